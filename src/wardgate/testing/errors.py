"""Error bodies exactly as OpenAI and Azure OpenAI send them (pure functions returning dicts)."""

from __future__ import annotations

from typing import Any

from wardgate.testing.wire import Flavor

JSONDict = dict[str, Any]

_MISSING_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
    "you're accessing the API from your browser and are prompted for a username and password. You can "
    "obtain an API key from https://platform.openai.com/account/api-keys."
)
_AZURE_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)
_AZURE_NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the deployment within the last 5 "
    "minutes, please wait a moment and try again."
)
_BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you "
    "have trouble figuring out how to fix this, please contact us through our help center at "
    "help.openai.com.)"
)


def openai_error(message: str, type_: str, param: str | None = None, code: str | None = None) -> JSONDict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def azure_error(code: str, message: str) -> JSONDict:
    return {"error": {"code": code, "message": message}}


def mask_key(key: str) -> str:
    """Mask a key the way OpenAI echoes it back (``sk-abc***...***wxyz``)."""
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def unauthorized(flavor: Flavor, presented: str | None) -> JSONDict:
    """The 401 body for a missing (``presented`` None/empty) or wrong key."""
    if flavor == "azure":
        return azure_error("401", _AZURE_DENIED)
    if not presented:
        return openai_error(_MISSING_KEY, "invalid_request_error")
    message = (
        f"Incorrect API key provided: {mask_key(presented)}. "
        "You can find your API key at https://platform.openai.com/account/api-keys."
    )
    return openai_error(message, "invalid_request_error", code="invalid_api_key")


def deployment_not_found() -> JSONDict:
    return azure_error("DeploymentNotFound", _AZURE_NO_DEPLOYMENT)


def missing_api_version() -> JSONDict:
    return azure_error("BadRequest", "Missing required query parameter: api-version")


def invalid_json(flavor: Flavor) -> JSONDict:
    if flavor == "azure":
        return azure_error("BadRequest", "Request body is not valid JSON.")
    return openai_error(_BAD_JSON, "invalid_request_error")


def missing_parameter(flavor: Flavor, param: str) -> JSONDict:
    if flavor == "azure":
        return azure_error("BadRequest", f"Missing required parameter: '{param}'.")
    return openai_error(
        f"Missing required parameter: '{param}'.",
        "invalid_request_error",
        param,
        "missing_required_parameter",
    )


def model_not_found(model: str) -> JSONDict:
    return openai_error(
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        code="model_not_found",
    )


def invalid_url(method: str, path: str) -> JSONDict:
    return openai_error(f"Invalid URL ({method} {path})", "invalid_request_error")


def azure_not_found() -> JSONDict:
    return azure_error("404", "Resource not found")


def default_error(flavor: Flavor, status: int, model: str) -> JSONDict:
    """What the provider sends for ``status`` when a script gives no explicit error body."""
    if flavor == "azure":
        return _azure_default(status)
    if status == 429:
        return openai_error(
            f"Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
            "Limit 500, Used 500, Requested 1. Please try again in 120ms.",
            "requests",
            code="rate_limit_exceeded",
        )
    if status == 404:
        return model_not_found(model)
    if status == 401:
        return unauthorized("openai", "sk-invalid-key")
    if status == 403:
        return openai_error("You are not allowed to sample from this model", "invalid_request_error")
    if status < 500:
        return openai_error("Invalid request.", "invalid_request_error")
    if status == 503:
        return openai_error("The engine is currently overloaded, please try again later", "server_error")
    return openai_error("The server had an error while processing your request. Sorry about that!", "server_error")


def _azure_default(status: int) -> JSONDict:
    if status == 429:
        return azure_error(
            "429",
            "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have "
            "exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds.",
        )
    if status == 401:
        return azure_error("401", _AZURE_DENIED)
    if status == 404:
        return deployment_not_found()
    if status < 500:
        return azure_error("BadRequest", "Invalid request.")
    return azure_error(
        "InternalServerError", "The service is temporarily unable to process your request. Please try again."
    )
