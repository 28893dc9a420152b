"""``python -m alluxiofs``: the ``alluxiofs`` command."""

from alluxiofs.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
