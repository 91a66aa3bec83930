"""Observability: JSON logging (later: Prometheus metrics and OpenTelemetry traces, all defined here).
Must not import ``api``, ``routing`` or ``providers``."""
