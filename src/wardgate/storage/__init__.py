"""Persistence: SQLAlchemy Core tables on SQLite (embedded) or PostgreSQL (shared). Only startup, admin and
write-behind paths touch it: the request path never waits on SQL. Must not import ``api``, ``stages`` or
``providers``."""
