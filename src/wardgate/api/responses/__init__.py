"""The OpenAI Responses API dialect (POST /v1/responses): routes, parsing, rendering and the response store."""
