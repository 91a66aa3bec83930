"""Alembic migration scripts for the gateway schema (``storage/schema.py``); run by ``storage/migrate.py``."""
