"""Google Gemini: the Gemini API (AI Studio) and Gemini on Vertex AI, which share one request/response dialect.

Owns the pure cross-dialect adapter (:class:`GeminiAdapter`: OpenAI chat/embeddings ↔ ``generateContent``,
``streamGenerateContent?alt=sse``, ``batchEmbedContents`` / Vertex ``predict``, Google error mapping), the JSON
Schema → Gemini schema converter, and :class:`VertexTokenSource` (service-account JWT → OAuth access token, cached;
its HTTP call is injected so the module does no I/O of its own).

Must not import ``wardgate.api``, ``wardgate.stages`` or ``wardgate.storage``.

Modules: ``adapter`` (paths, entry points), ``request`` (generation config, tools), ``messages`` (contents),
``schema``, ``response``, ``stream``, ``embeddings``, ``errors``, ``vertex_auth``.
"""

from wardgate.providers.gemini.adapter import GeminiAdapter
from wardgate.providers.gemini.vertex_auth import VertexTokenSource

__all__ = ["GeminiAdapter", "VertexTokenSource"]
