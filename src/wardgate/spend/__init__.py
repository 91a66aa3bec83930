"""The spend ledger: one row per request (``record.SpendRecord``), handed over on the request path to
``ledger.SpendLedger`` (a durable local spool, ``storage.spool``, then a background shipper), written to the database
by ``ship`` (rows, tags and minute/hour/day rollups, idempotent by record id), read back by ``query`` (filters,
group-by, totals; rollups where they fit, rows elsewhere) and rendered by ``export`` (CSV, JSON).

Owns the ``spend_ledger``, ``spend_tags`` and ``spend_rollups`` tables. Prices and cost computation are not here
(the caller passes the cost); budgets read what this package writes. Must not import ``api``, ``stages``,
``providers``, ``routing`` or ``cli``: the admin API and the CLI import this package, never the other way round.
"""
