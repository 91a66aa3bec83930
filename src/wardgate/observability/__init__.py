"""Observability: the request-end event and its observers (``events``), the JSON access log (``logging``),
Prometheus metrics (``metrics*``) and OpenTelemetry traces following the GenAI semantic conventions
(``tracing*``). Must not import ``api``, ``routing`` or ``providers``."""
