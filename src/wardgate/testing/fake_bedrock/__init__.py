"""Fake AWS Bedrock Runtime for tests (shipped so users can test their apps against a gateway too).

Owns: ``FakeBedrock`` (``server``) — a real aiohttp server for Converse, ConverseStream (binary event-stream
frames with correct CRCs, written by ``eventstream.encode_message``), CountTokens and InvokeModel embeddings
(Titan, Cohere),
which verifies every request's SigV4 signature by re-signing it with botocore (``sigv4``), validates bodies against
botocore's service model and Bedrock's conversation rules (``validate``), answers from ``Behavior`` scripts
(``replies``, ``embeddings``) with Bedrock's error bodies (``errors``).

Must not import ``wardgate.api``, ``wardgate.stages``, ``wardgate.routing`` or ``wardgate.storage``; it does not
import the Bedrock adapter either, so the adapter is tested against an independent implementation.
"""

from wardgate.testing.fake_bedrock.eventstream import encode_message, event_frame, exception_frame
from wardgate.testing.fake_bedrock.server import FakeBedrock

__all__ = ["FakeBedrock", "encode_message", "event_frame", "exception_frame"]
