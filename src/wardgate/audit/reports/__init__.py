"""Compliance reports, written as files a person can read: a Markdown document (title, period, when it was made,
summary numbers, then sections of tables) and a CSV file for each table.

``soc2`` (key inventory and rotations, admin changes, access by principal, policy violations, provider usage) and
``hipaa`` (who sent prompts flagged as containing PHI, to which models) read the audit trail (``audit_log``), the
keys, credentials and organisation tables, the admin change log and the spend ledger; ``read`` holds the shared
queries, ``period`` the reporting period, ``render`` the files. Read-only: never writes to the database. Never
prints a key, a key's hash or a credential's secret.
"""
