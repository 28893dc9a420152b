"""The ``alluxiofs`` command, one module per subcommand:

- client commands, on a cluster given by the shared options of
  :mod:`~alluxiofs.cli.options`: :mod:`~alluxiofs.cli.ls`,
  :mod:`~alluxiofs.cli.stat`, :mod:`~alluxiofs.cli.cat`,
  :mod:`~alluxiofs.cli.get`, :mod:`~alluxiofs.cli.load`,
  :mod:`~alluxiofs.cli.workers`, :mod:`~alluxiofs.cli.locate`;
- :mod:`~alluxiofs.cli.worker` and :mod:`~alluxiofs.cli.local_cluster`.

Shared helpers: argument types (:mod:`~alluxiofs.cli.argtypes`), path
resolution (:mod:`~alluxiofs.cli.paths`), output (:mod:`~alluxiofs.cli.output`),
errors (:mod:`~alluxiofs.cli.errors`), the parser shape
(:mod:`~alluxiofs.cli.parser`) and logging/exit codes
(:mod:`~alluxiofs.cli.runner`). :func:`main` is the console script.
"""

from alluxiofs.cli.app import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
