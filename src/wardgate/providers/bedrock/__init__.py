"""AWS Bedrock Runtime: the cross-dialect adapter (OpenAI chat ↔ Converse / ConverseStream, embeddings ↔ Titan and
Cohere Embed through InvokeModel), the AWS event-stream decoder, Bedrock error mapping and SigV4 signing.

Owns: ``BedrockAdapter`` (``adapter``), request/response/stream translation (``request``, ``messages``,
``response``, ``stream``, ``embeddings``), ``EventStreamDecoder`` (``eventstream``), ``map_bedrock_error``
(``errors``) and ``SigV4Signer`` (``signing``, the only module that touches credentials — used by the client after
translation, never by the adapter).

Must not import ``wardgate.api``, ``wardgate.stages``, ``wardgate.routing`` or ``wardgate.storage``: adapters are pure
translation and know nothing about the gateway around them.
"""

from wardgate.providers.bedrock.adapter import BedrockAdapter
from wardgate.providers.bedrock.signing import SigV4Signer

__all__ = ["BedrockAdapter", "SigV4Signer"]
