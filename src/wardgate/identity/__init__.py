"""Who is who: roles and permissions (``rbac``), JWT bearer tokens and OIDC sign-in for people (``jwt``, ``oidc``),
and the in-memory key and identity caches the request path reads. Must not import api, stages or providers."""
