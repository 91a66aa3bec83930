"""OTLP trace encoding: spans straight to protobuf bytes (``opentelemetry/proto/trace/v1/trace.proto``,
``collector/trace/v1/trace_service.proto``), without the protobuf runtime.

The gateway writes two shapes of span, so a small hand-written encoder is enough and costs a fraction of building
message objects: ``attr`` encodes one ``Span.attributes`` entry (``cached`` remembers the low-cardinality ones:
models, routes, status codes, key ids), ``span`` one ``ScopeSpans.spans`` entry (field 2, length-delimited) from
them and a shared ``span_tail``, and ``export_request`` wraps a batch with the resource and scope into an
``ExportTraceServiceRequest``.

Attribute values: ``str``, ``bool``, ``int`` (int64), ``float`` (double) and sequences of ``str`` (array values).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from typing import Final

AttrValue = str | bool | int | float | Sequence[str]

KIND_SERVER: Final = 2
KIND_CLIENT: Final = 3
STATUS_UNSET: Final = 0
STATUS_ERROR: Final = 2
FLAG_SAMPLED: Final = 0x01
FLAG_HAS_IS_REMOTE: Final = 0x100
FLAG_IS_REMOTE: Final = 0x200
SPAN_FLAGS: Final = FLAG_SAMPLED | FLAG_HAS_IS_REMOTE

_FIXED64 = struct.Struct("<Q").pack
_FIXED32 = struct.Struct("<I").pack
_DOUBLE = struct.Struct("<d").pack
_TIMES = struct.Struct("<BQBQ").pack
"""``Span.start_time_unix_nano`` (field 7) and ``end_time_unix_nano`` (8) with their tags."""
_STATUS = (b"", b"\x7a\x02\x18\x01", b"\x7a\x02\x18\x02")
"""``Span.status`` (field 15) by code: none for UNSET, else a ``Status`` with its ``code`` (field 3)."""
_KEYS: dict[str, bytes] = {}
_CACHE: dict[tuple[str, AttrValue, type], bytes] = {}
_CACHE_LIMIT = 8192
_SPAN_ATTRIBUTES = 0x4A


def varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative numbers as their 64-bit two's complement (int64)."""
    if 0 <= value < 0x80:
        return bytes((value,))
    if 0 < value < 0x4000:
        return bytes(((value & 0x7F) | 0x80, value >> 7))
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(tag: int, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte, the payload's length, the payload."""
    n = len(payload)
    return b"%c%c%b" % (tag, n, payload) if n < 0x80 else bytes((tag,)) + varint(n) + payload


def key(name: str) -> bytes:
    """``KeyValue.key`` (field 1), encoded once per attribute name."""
    found = _KEYS.get(name)
    if found is None:
        found = field(0x0A, name.encode())
        if len(_KEYS) < 4096:
            _KEYS[name] = found
    return found


def any_value(value: AttrValue) -> bytes:
    """An ``AnyValue`` message."""
    if isinstance(value, str):
        return field(0x0A, value.encode("utf-8", "replace"))
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        return b"\x18" + varint(value)
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(value)
    return field(0x2A, b"".join(field(0x0A, any_value(item)) for item in value))


def text(key_field: bytes, value: str) -> bytes:
    """A span attribute with a string value; ``key_field`` from ``key``. A short one takes one formatting step."""
    encoded = value.encode("utf-8", "replace")
    n = len(encoded)
    total = len(key_field) + n + 4
    if total < 0x80:
        return b"J%c%b\x12%c\x0a%c%b" % (total, key_field, n + 2, n, encoded)
    return field(0x4A, key_field + field(0x12, field(0x0A, encoded)))


def integer(key_field: bytes, value: int) -> bytes:
    """A span attribute with an int64 value; ``key_field`` from ``key``."""
    if 0 <= value < 0x4000 and len(key_field) < 0x7B:
        encoded = bytes((value,)) if value < 0x80 else bytes(((value & 0x7F) | 0x80, value >> 7))
        return b"J%c%b\x12%c\x18%b" % (len(key_field) + len(encoded) + 3, key_field, len(encoded) + 1, encoded)
    return field(0x4A, key_field + field(0x12, b"\x18" + varint(value)))


def double(key_field: bytes, value: float) -> bytes:
    """A span attribute with a double value; ``key_field`` from ``key``."""
    if len(key_field) < 0x74:
        return b"J%c%b\x12\x09\x21%b" % (len(key_field) + 11, key_field, _DOUBLE(value))
    return field(0x4A, key_field + field(0x12, b"\x21" + _DOUBLE(value)))


def attr(name: str, value: AttrValue, tag: int = _SPAN_ATTRIBUTES) -> bytes:
    """One attributes entry (``KeyValue``) with its tag: 0x4A ``Span.attributes`` (default), 0x0A for
    ``Resource.attributes``."""
    if tag == _SPAN_ATTRIBUTES:
        if type(value) is str:
            return text(_KEYS.get(name) or key(name), value)
        if type(value) is int:
            return integer(_KEYS.get(name) or key(name), value)
        if type(value) is float:
            return double(_KEYS.get(name) or key(name), value)
    return field(tag, key(name) + field(0x12, any_value(value)))


def cached(name: str, value: AttrValue) -> bytes:
    """``attr`` for values of low cardinality (models, routes, status codes, ids of keys and teams), remembered."""
    key = (name, value, type(value))  # True == 1 == 1.0: the type keeps their encodings apart
    found = _CACHE.get(key)
    if found is None:
        found = attr(name, value)
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        _CACHE[key] = found
    return found


def attributes(attrs: Mapping[str, AttrValue], tag: int = _SPAN_ATTRIBUTES) -> bytes:
    """Every entry of ``attrs`` (see ``attr``)."""
    return b"".join([attr(name, value, tag) for name, value in attrs.items()])


def span_tail(name: str, kind: int, attrs: bytes, status: int = STATUS_UNSET, flags: int = SPAN_FLAGS) -> bytes:
    """The fields many spans share — name, kind, their constant attributes, status and flags — encoded once.
    (Protobuf readers take fields in any order, so these may follow the ones that change.)"""
    return b"".join(
        (field(0x2A, name.encode("utf-8", "replace")), b"\x30", bytes((kind,)), attrs, _STATUS[status], b"\x85\x01")
    ) + _FIXED32(flags)


def span(trace_id: bytes, span_id: bytes, parent: bytes, start_ns: int, end_ns: int, parts: Iterable[bytes]) -> bytes:
    """One ``Span`` as a ``ScopeSpans.spans`` entry (tag and length included): its ids, ``parent``
    (``parent_fields``), times, and ``parts`` — encoded attributes and a ``span_tail``."""
    body = b"".join(
        (
            b"\x0a\x10",
            trace_id,
            b"\x12\x08",
            span_id,
            parent,
            _TIMES(0x39, start_ns, 0x41, end_ns if end_ns > start_ns else start_ns),
            *parts,
        )
    )
    return b"\x12" + varint(len(body)) + body


def parent_fields(trace_state: str | None, parent_id: bytes | None) -> bytes:
    """``Span.trace_state`` and ``Span.parent_span_id`` (either may be absent)."""
    if not trace_state:
        return b'"\x08' + parent_id if parent_id is not None else b""
    out = field(0x1A, trace_state.encode())
    return out + b'"\x08' + parent_id if parent_id is not None else out


def scope(name: str, version: str) -> bytes:
    """``ScopeSpans.scope`` (field 1): an ``InstrumentationScope``."""
    return field(0x0A, field(0x0A, name.encode()) + field(0x12, version.encode()))


def resource(attrs: Mapping[str, AttrValue]) -> bytes:
    """``ResourceSpans.resource`` (field 1): a ``Resource``."""
    return field(0x0A, attributes(attrs, 0x0A))


def export_request(resource_field: bytes, scope_field: bytes, spans: Iterable[bytes]) -> bytes:
    """An ``ExportTraceServiceRequest`` holding one ``ResourceSpans`` with one ``ScopeSpans``."""
    scope_spans = field(0x12, scope_field + b"".join(spans))
    return field(0x0A, resource_field + scope_spans)
