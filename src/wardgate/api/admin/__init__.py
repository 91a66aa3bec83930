"""The admin JSON API (``/admin/v1``): organisations, teams, projects, users, service principals, virtual keys and
credentials, with RBAC on every route and every change recorded. FastAPI, never on the proxy hot path. Routers
(one module per resource) reach the database only through ``storage`` repositories."""
