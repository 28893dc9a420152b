"""Reliability and security suites (issue 7): R1-R11, each printing its figures.

CI runs them CI-sized as part of ``pytest``; ``pytest tests/reliability --long``
runs the documented full-length mode (sizes/durations in each suite's docstring).
"""
