"""The ``wardgate`` command line: ``serve``, ``config check``, ``db``, ``keys``, ``secrets``, ``teams``,
``projects``, ``users``, ``members``, ``service-principals``, ``prices``, ``spend``, ``reset-master-key`` and
``version``. Each module attaches its commands to the one click group in ``base``; commands import heavy modules
lazily."""

from wardgate.cli import db, keys, org, prices, secrets, serve, spend
from wardgate.cli.base import main

__all__ = ["db", "keys", "main", "org", "prices", "secrets", "serve", "spend"]
