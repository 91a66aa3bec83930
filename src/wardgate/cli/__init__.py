"""The ``wardgate`` command line: ``serve``, ``config check``, ``db``, ``reset-master-key`` and ``version``.
Each module attaches its commands to the one click group in ``base``; commands import heavy modules lazily."""

from wardgate.cli import db, serve
from wardgate.cli.base import main

__all__ = ["db", "main", "serve"]
