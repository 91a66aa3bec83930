"""The ``wardgate`` command line: ``serve``, ``config check``, ``db``, ``keys``, ``secrets``, ``teams``,
``projects``, ``users``, ``members``, ``service-principals``, ``prices``, ``spend``, ``audit``, ``report``,
``reset-master-key`` and ``version``. Each module attaches its commands to the one click group in ``base``;
commands import heavy modules lazily."""

from wardgate.cli import audit, audit_export, db, keys, org, prices, report, secrets, serve, spend
from wardgate.cli.base import main

__all__ = ["audit", "audit_export", "db", "keys", "main", "org", "prices", "report", "secrets", "serve", "spend"]
