"""wardgate: a self-hosted LLM gateway — one governed, OpenAI-compatible endpoint for every provider.

Package map (each subpackage's docstring says what it owns and what it must not import):
``config`` schema and loading, ``core`` canonical types/errors/pipeline, ``api`` inbound dialects,
``stages`` pipeline stages, ``routing`` alias resolution and execution, ``providers`` pure adapters and the
shared transport, ``storage`` persistence, ``observability`` logs, ``testing`` fake provider servers.
"""

__version__ = "0.1.0"
