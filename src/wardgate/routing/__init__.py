"""Routing: resolve a requested model alias to its deployments and execute the request against them.

Owns the route table (built once per config snapshot) and the terminal pipeline handler. Must not import ``api``
or ``storage``.
"""
