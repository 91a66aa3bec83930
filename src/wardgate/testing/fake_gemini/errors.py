"""Google API error bodies as the Gemini API and Vertex AI send them (pure functions returning dicts).

Shape: ``{"error": {"code": 400, "message": "…", "status": "INVALID_ARGUMENT", "details": [...]}}`` —
https://ai.google.dev/gemini-api/docs/troubleshooting and https://cloud.google.com/apis/design/errors.
"""

from __future__ import annotations

from typing import Any, Literal

JSONDict = dict[str, Any]
Flavor = Literal["gemini", "vertex"]

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_SERVICE = {"gemini": "generativelanguage.googleapis.com", "vertex": "aiplatform.googleapis.com"}
_UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid "
    "authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or "
    "other form of API consumer identity to call this API."
)


def google_error(code: int, message: str, status: str | None = None, details: list[JSONDict] | None = None) -> JSONDict:
    error: JSONDict = {"code": code, "message": message, "status": status or STATUS_NAMES.get(code, "UNKNOWN")}
    if details:
        error["details"] = details
    return {"error": error}


def invalid_argument(message: str) -> JSONDict:
    return google_error(400, message, "INVALID_ARGUMENT")


def unknown_field(name: str, where: str | None = None) -> JSONDict:
    at = f" at '{where}'" if where else ""
    return invalid_argument(f'Invalid JSON payload received. Unknown name "{name}"{at}: Cannot find field.')


def invalid_json() -> JSONDict:
    return invalid_argument("Invalid JSON payload received. Unexpected token.")


def missing_api_key() -> JSONDict:
    return google_error(403, _NO_KEY, "PERMISSION_DENIED")


def invalid_api_key() -> JSONDict:
    """What the Gemini API answers to a wrong key: a 400, recognisable only by ``reason: API_KEY_INVALID``."""
    message = "API key not valid. Please pass a valid API key."
    return google_error(
        400,
        message,
        "INVALID_ARGUMENT",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": _SERVICE["gemini"]},
            },
            {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": message},
        ],
    )


def unauthenticated() -> JSONDict:
    return google_error(
        401,
        _UNAUTHENTICATED,
        "UNAUTHENTICATED",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                "metadata": {"service": _SERVICE["vertex"], "method": "google.cloud.aiplatform.v1.PredictionService"},
            }
        ],
    )


def model_not_found(flavor: Flavor, model: str, version: str, method: str = "generateContent") -> JSONDict:
    if flavor == "vertex":
        message = (
            f"Publisher Model `publishers/google/models/{model}` was not found or your project does not have access "
            "to it. Please ensure you are using a valid model version."
        )
    else:
        message = (
            f"models/{model} is not found for API version {version}, or is not supported for {method}. "
            "Call ListModels to see the list of available models and their supported methods."
        )
    return google_error(404, message, "NOT_FOUND")


def url_not_found(path: str) -> JSONDict:
    return google_error(404, f"The requested URL {path} was not found on this server.", "NOT_FOUND")


def rate_limited(flavor: Flavor, model: str) -> JSONDict:
    if flavor == "vertex":
        return google_error(
            429,
            "Resource exhausted. Please try again later. Please refer to "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details.",
            "RESOURCE_EXHAUSTED",
        )
    return google_error(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more information on "
        "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n"
        "* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, "
        f"limit: 10, model: {model}\nPlease retry in 7.5s.",
        "RESOURCE_EXHAUSTED",
        [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": model},
                        "quotaValue": "10",
                    }
                ],
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [
                    {
                        "description": "Learn more about Gemini API quotas",
                        "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
        ],
    )


def default_error(flavor: Flavor, status: int, model: str, version: str) -> JSONDict:
    """What the provider sends for ``status`` when a script gives no explicit error body."""
    if status == 429:
        return rate_limited(flavor, model)
    if status == 404:
        return model_not_found(flavor, model, version)
    if status == 401:
        return unauthenticated()
    if status == 403:
        return google_error(403, "The caller does not have permission", "PERMISSION_DENIED")
    if status == 500:
        return google_error(500, "An internal error has occurred. Please retry or report in troubleshooting guide.")
    if status == 503:
        return google_error(503, "The model is overloaded. Please try again later.", "UNAVAILABLE")
    if status == 504:
        return google_error(504, "Deadline expired before operation could complete.", "DEADLINE_EXCEEDED")
    if status < 500:
        return google_error(status, "Request contains an invalid argument.")
    return google_error(status, "The service is currently unavailable.")
