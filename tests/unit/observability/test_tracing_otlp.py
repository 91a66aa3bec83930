"""The hand-written OTLP encoder, checked against the official protobuf messages (``opentelemetry-proto``)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from wardgate.observability import tracing_otlp as otlp
from wardgate.testing.fake_otlp import decode_spans

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
SPAN = bytes.fromhex("b7ad6b7169203331")
PARENT = bytes.fromhex("00f067aa0ba902b7")


def export(*spans: bytes, resource: dict[str, otlp.AttrValue] | None = None) -> bytes:
    return otlp.export_request(
        otlp.resource(resource or {"service.name": "wardgate"}), otlp.scope("wardgate", "9.9.9"), spans
    )


def one_span(
    attrs: dict[str, otlp.AttrValue],
    *,
    span_id: bytes = SPAN,
    parent: bytes | None = None,
    kind: int = otlp.KIND_CLIENT,
    start_ns: int = 1_700_000_000_000_000_000,
    end_ns: int = 1_700_000_000_250_000_000,
    status: int = otlp.STATUS_UNSET,
    flags: int = otlp.SPAN_FLAGS,
) -> bytes:
    tail = otlp.span_tail("chat gpt-4o", kind, b"", status, flags)
    parent = otlp.parent_fields(None, PARENT) if parent is None else parent
    return otlp.span(TRACE, span_id, parent, start_ns, end_ns, [otlp.attributes(attrs), tail])


def test_a_span_decodes_field_by_field() -> None:
    body = export(
        one_span(
            {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 12},
            parent=otlp.parent_fields("vendor=abc,other=1", PARENT),
            status=otlp.STATUS_ERROR,
            flags=otlp.FLAG_SAMPLED | otlp.FLAG_HAS_IS_REMOTE | otlp.FLAG_IS_REMOTE,
        ),
        resource={"service.name": "wardgate", "deployment.environment.name": "test"},
    )
    message = ExportTraceServiceRequest.FromString(body)
    (resource_spans,) = message.resource_spans
    assert [(kv.key, kv.value.string_value) for kv in resource_spans.resource.attributes] == [
        ("service.name", "wardgate"),
        ("deployment.environment.name", "test"),
    ]
    (scope_spans,) = resource_spans.scope_spans
    assert (scope_spans.scope.name, scope_spans.scope.version) == ("wardgate", "9.9.9")
    (span,) = scope_spans.spans
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE, SPAN, PARENT)
    assert span.trace_state == "vendor=abc,other=1"
    assert span.name == "chat gpt-4o" and span.kind == 3
    assert span.start_time_unix_nano == 1_700_000_000_000_000_000
    assert span.end_time_unix_nano == 1_700_000_000_250_000_000
    assert span.status.code == 2 and span.flags == 0x301
    assert [(kv.key, kv.value.WhichOneof("value")) for kv in span.attributes] == [
        ("gen_ai.request.model", "string_value"),
        ("gen_ai.usage.input_tokens", "int_value"),
    ]


def test_a_root_span_has_no_parent_and_unset_status() -> None:
    (span,) = decode_spans(export(one_span({}, parent=b"", kind=otlp.KIND_SERVER)))
    assert span.parent_span_id is None and span.trace_state == ""
    assert span.kind == "server" and span.status == "unset" and span.attributes == {}


def test_an_end_before_the_start_is_clamped() -> None:
    (span,) = decode_spans(export(one_span({}, start_ns=2_000, end_ns=1_000)))
    assert span.start_ns == span.end_ns == 2_000


def test_values_of_every_size_and_type() -> None:
    long_text = "é" * 70_000  # a length that needs a three-byte varint
    attrs: dict[str, otlp.AttrValue] = {
        "short": "x",
        "edge": "y" * (127 - len("edge") - 2 - 4),  # the entry is exactly 127 bytes
        "over": "z" * 200,
        "long": long_text,
        "zero": 0,
        "small": 127,
        "two": 128,
        "big": 2**40,
        "max": 2**63 - 1,
        "negative": -5,
        "min": -(2**63),
        "true": True,
        "false": False,
        "float": 0.25,
        "list": ("stop", "length"),
        "empty_list": (),
        "k" * 200: "a long key",
    }
    (span,) = decode_spans(export(one_span(attrs)))
    assert span.attributes == {**attrs, "list": ["stop", "length"], "empty_list": []}


def test_cached_entries_equal_fresh_ones() -> None:
    assert otlp.cached("http.route", "/v1/chat/completions") == otlp.attr("http.route", "/v1/chat/completions")
    assert otlp.cached("http.route", "/v1/chat/completions") is otlp.cached("http.route", "/v1/chat/completions")
    assert otlp.cached("a", True) != otlp.cached("a", 1)  # bool and int are different attribute values


def test_many_spans_in_one_request() -> None:
    spans = [one_span({"i": i}, span_id=i.to_bytes(8, "big")) for i in range(1, 300)]
    decoded = decode_spans(export(*spans))
    assert [s.attributes["i"] for s in decoded] == list(range(1, 300))
    assert decoded[41].span_id == (42).to_bytes(8, "big").hex()


values = st.one_of(
    st.text(max_size=300),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.booleans(),
    st.lists(st.text(max_size=40), max_size=5).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=150), values, max_size=8))
def test_any_attributes_round_trip(attrs: dict[str, otlp.AttrValue]) -> None:
    (span,) = decode_spans(export(one_span(attrs)))
    expected = {key: list(value) if isinstance(value, tuple) else value for key, value in attrs.items()}
    for key, value in expected.items():
        got = span.attributes[key]
        if isinstance(value, float) and math.isinf(value):
            assert got == value
        else:
            assert got == value and type(got) is type(value)
