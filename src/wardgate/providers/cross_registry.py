"""Build clients for the cross-dialect providers (Anthropic, Gemini, Vertex AI, Bedrock): a pure adapter, the
credential that signs its calls, and the shared transport, joined by :class:`TranslatingClient`."""

from __future__ import annotations

import json

from wardgate.config.schema import AnthropicProvider, BedrockProvider, GeminiProvider, VertexProvider
from wardgate.providers.anthropic.adapter import AnthropicAdapter
from wardgate.providers.auth import api_key_header
from wardgate.providers.bedrock.adapter import BedrockAdapter
from wardgate.providers.bedrock.signing import SigV4Signer
from wardgate.providers.fetch import ImageFetcher
from wardgate.providers.gemini.adapter import GeminiAdapter
from wardgate.providers.gemini.vertex_auth import VertexTokenSource
from wardgate.providers.signing import RequestSigner, StaticSigner, SyncSigner, TokenSigner
from wardgate.providers.translate import ChatAdapter
from wardgate.providers.translating_client import TranslatingClient
from wardgate.providers.transport import Transport

CrossDialect = AnthropicProvider | GeminiProvider | VertexProvider | BedrockProvider


def build_cross_dialect(config: CrossDialect, transport: Transport, fetcher: ImageFetcher | None) -> TranslatingClient:
    def client(
        adapter: ChatAdapter, base_url: str, signer: RequestSigner, secrets: tuple[str, ...]
    ) -> TranslatingClient:
        return TranslatingClient(
            name=config.name,
            type=config.type,
            adapter=adapter,
            base_url=base_url,
            signer=signer,
            transport=transport,
            timeouts=config.timeouts,
            fetcher=fetcher,
            static_headers=config.headers,
            secrets=secrets,
        )

    if isinstance(config, AnthropicProvider):
        key = config.api_key.get_secret_value()
        anthropic = AnthropicAdapter(version=config.anthropic_version, betas=config.beta)
        return client(anthropic, config.base_url, StaticSigner(api_key_header(key, "x-api-key")), (key,))
    if isinstance(config, GeminiProvider):
        key = config.api_key.get_secret_value()
        gemini = GeminiAdapter("gemini", api_version=config.api_version)
        return client(gemini, config.base_url, StaticSigner(api_key_header(key, "x-goog-api-key")), (key,))
    if isinstance(config, VertexProvider):
        account = json.loads(config.credentials.get_secret_value())
        source = VertexTokenSource(account, transport.post_form, token_url=config.token_url)
        vertex = GeminiAdapter(
            "vertex", api_version=config.api_version, project=config.project, location=config.location
        )
        host = (
            "aiplatform.googleapis.com"
            if config.location == "global"
            else f"{config.location}-aiplatform.googleapis.com"
        )
        base_url = config.base_url or f"https://{host}"
        return client(
            vertex, base_url, TokenSigner(source.headers, source.invalidate), (str(account.get("private_key", "")),)
        )
    secrets = tuple(s.get_secret_value() for s in (config.secret_access_key, config.session_token) if s)
    signer = SigV4Signer(
        config.region,
        config.access_key_id.get_secret_value(),
        config.secret_access_key.get_secret_value(),
        config.session_token.get_secret_value() if config.session_token else None,
    )
    base_url = config.base_url or f"https://bedrock-runtime.{config.region}.amazonaws.com"
    return client(BedrockAdapter(), base_url, SyncSigner(signer.headers), secrets)
