"""Where the audit trail is forwarded besides the database (``audit.sinks``): JSON lines to a rotated file or to
stdout, a generic HTTP webhook, or Splunk's HTTP Event Collector. Each sink has a unique ``name`` (its delivery
cursor is kept under that name, so renaming a sink re-delivers from ``start``).

```yaml
audit:
  sinks:
    - {name: archive, type: file, path: /var/log/wardgate/audit.jsonl, max_bytes: 104857600, backups: 10}
    - {name: console, type: stdout, include_content: false}
    - name: soc
      type: webhook
      url: https://soc.example.com/ingest/wardgate
      headers: {Authorization: "Bearer ${SOC_TOKEN}"}
    - {name: siem, type: splunk_hec, url: "https://splunk.example.com:8088", token: "${SPLUNK_HEC_TOKEN}",
       index: wardgate}
```

Delivery is at least once (``audit.forward``): a receiver deduplicates by the record's ``id``.
"""

from __future__ import annotations

import urllib.parse
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

HEC_PATH = "/services/collector/event"


class _Sink(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    start: Literal["now", "beginning"] = Field(
        default="now", description="Where a new sink starts: records written from now on, or the whole trail."
    )
    batch_records: int = Field(default=500, ge=1, le=10_000)
    max_batch_bytes: int = Field(
        default=5 * 1024 * 1024,
        ge=1024,
        description="A batch is cut before it grows past this many bytes (a larger record goes alone).",
    )
    include_content: bool = Field(default=True, description="Forward prompt/response content the trail holds.")


def _http_url(value: str) -> str:
    parts = urllib.parse.urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.fragment:
        raise ValueError("must not have a #fragment")
    return value


class FileSink(_Sink):
    type: Literal["file"]
    path: str = Field(min_length=1, description="The live file; rotated ones are path.1 (newest) … path.N.")
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1024, description="Rotate before the file passes this.")
    backups: int = Field(default=10, ge=0, le=1000, description="Rotated files kept (0: the file is truncated).")


class StdoutSink(_Sink):
    type: Literal["stdout"]


class WebhookSink(_Sink):
    type: Literal["webhook"]
    url: str = Field(description="POSTed a JSON array of records; any 2xx answer means delivered.")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Sent with every POST; never logged.")
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)


class SplunkHecSink(_Sink):
    type: Literal["splunk_hec"]
    url: str = Field(description="The collector's base URL, e.g. https://splunk.example.com:8088")
    token: SecretStr
    index: str | None = None
    host: str | None = Field(default=None, description="The events' host field; default: this machine's name.")
    source: str = "wardgate"
    sourcetype: str = "wardgate:audit"
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return _http_url(value)

    @property
    def endpoint(self) -> str:
        """The event endpoint: ``{url}/services/collector/event`` (a URL already ending in it is kept)."""
        base = self.url.rstrip("/")
        if base.endswith(HEC_PATH):
            return base
        if base.endswith("/services/collector"):
            return base + "/event"
        return base + HEC_PATH


AuditSink = Annotated[FileSink | StdoutSink | WebhookSink | SplunkHecSink, Field(discriminator="type")]


def sink_problems(sinks: Sequence[FileSink | StdoutSink | WebhookSink | SplunkHecSink]) -> list[str]:
    """What is wrong with a list of sinks as a whole: names used twice (they would share one cursor), and two
    file sinks writing the same path."""
    problems = [
        f"audit.sinks: the name {name!r} is used {n} times"
        for name, n in Counter(s.name for s in sinks).items()
        if n > 1
    ]
    paths = Counter(s.path for s in sinks if isinstance(s, FileSink))
    problems += [f"audit.sinks: two file sinks write {path!r}" for path, n in paths.items() if n > 1]
    return problems
