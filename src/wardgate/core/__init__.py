"""Core: canonical request/response holders, the one error tree, pipeline composition and stream helpers.

Owns the types every other package speaks. Must not import ``api``, ``stages``, ``routing``, ``providers`` or
``storage``: they depend on core, never the other way round.
"""
