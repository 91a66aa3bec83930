"""OpenTelemetry tracing settings (``observability.tracing``): spans per the GenAI semantic conventions, exported
as OTLP/HTTP protobuf. Every setting here is read once at start: changing it needs a restart.

```yaml
observability:
  tracing:
    enabled: true
    endpoint: https://otel-collector.example.com:4318/v1/traces
    headers: {Authorization: "Bearer ${OTLP_TOKEN}"}
    service_name: wardgate
    sample_ratio: 0.25          # for requests without a sampled/unsampled parent; a client's decision wins
    capture_content: false      # prompts and answers in spans: opt-in
```
"""

from __future__ import annotations

import re
import urllib.parse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
_RESERVED_HEADERS = frozenset({"content-type", "content-length", "content-encoding", "host"})


class TracingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    endpoint: str = Field(
        default=DEFAULT_ENDPOINT,
        description="The collector's OTLP/HTTP traces URL, path included (usually .../v1/traces).",
    )
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Sent with every export (e.g. an API key); never logged."
    )
    compression: str = Field(default="none", pattern="^(none|gzip)$", description="none | gzip")
    service_name: str = Field(default="wardgate", min_length=1, max_length=256)
    resource_attributes: dict[str, str] = Field(
        default_factory=dict, description="Extra resource attributes, e.g. deployment.environment.name: prod."
    )
    sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="Share of new traces recorded (by trace id); a client's traceparent decides for its requests.",
    )
    capture_content: bool = Field(
        default=False,
        description="Record prompts and answers on the upstream spans (gen_ai.input.messages / output.messages).",
    )
    max_content_chars: int = Field(
        default=16_384, ge=64, le=1_048_576, description="Each captured text part is cut to this many characters."
    )
    export_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="One export POST at most.")
    export_interval_seconds: float = Field(
        default=5.0, gt=0, le=300, description="Spans are sent at least this often (sooner when a batch is full)."
    )
    max_export_batch_size: int = Field(default=512, ge=1, le=100_000, description="Spans per export POST.")
    max_queue_size: int = Field(
        default=2048, ge=1, le=1_000_000, description="Spans waiting for export; beyond it new spans are dropped."
    )

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        if parts.username or parts.password or "@" in parts.netloc:
            raise ValueError("must not contain user info (put credentials in tracing.headers)")
        if parts.fragment:
            raise ValueError("must not have a #fragment")
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in value.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in _RESERVED_HEADERS:
                raise ValueError(f"{name!r} is set by the exporter itself")
            text = secret.get_secret_value()
            if any(ch in text for ch in "\r\n\0"):
                raise ValueError(f"the value of {name!r} contains a line break")
        return value

    @field_validator("resource_attributes")
    @classmethod
    def _check_resource(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not name or len(name) > 256:
                raise ValueError("resource attribute names must be 1-256 characters")
        return value
