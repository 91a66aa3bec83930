"""Provider adapters and the one shared upstream transport.

``base`` defines the adapter protocol (pure: build the upstream call, map errors; no I/O, no credentials) and
``ProviderClient``, which joins an adapter with credentials and the transport. One folder per provider.
Must not import ``storage``, ``api`` or ``stages``.
"""
