"""One error tree. Each error has a canonical kind and an HTTP status; the wire
formats render it in their own error shape (formats/*.error_body)."""

from __future__ import annotations

from typing import Literal

# The config's vocabulary of failures (`fallback_on`) and its error, re-exported: one error tree.
from multimodel.config.schema import CONDITIONS as CONDITIONS
from multimodel.config.schema import Condition as Condition
from multimodel.config.schema import ConfigError as ConfigError

Kind = Literal[
    "invalid_request",  # 400
    "authentication",  # 401
    "permission",  # 403
    "not_found",  # 404
    "request_timeout",  # 408: the client did not send its request in time
    "request_too_large",  # 413
    "rate_limit",  # 429
    "client_disconnected",  # 499 (nginx's): the client left before its request was read
    "api_error",  # 500 (ours or upstream's)
    "upstream",  # 502: upstream 5xx, refused connection, malformed answer
    "overloaded",  # 529 (Anthropic) / 503
    "shutdown",  # 503: the gateway stopped before the answer was ready
    "timeout",  # 504
]

_STATUS: dict[str, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "request_timeout": 408,
    "request_too_large": 413,
    "rate_limit": 429,
    "client_disconnected": 499,
    "api_error": 500,
    "upstream": 502,
    "overloaded": 529,
    "shutdown": 503,
    "timeout": 504,
}


class GatewayError(Exception):
    """An error meant for the client: safe message, no secrets, no trace."""

    def __init__(
        self,
        kind: Kind,
        message: str,
        *,
        param: str | None = None,
        status: int | None = None,
        retry_after: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind: Kind = kind
        self.message = message
        self.param = param
        self.status = status if status is not None else _STATUS[kind]
        self.retry_after = retry_after
        self.code = code  # a machine-readable code where the kind's default does not fit
        # Set where an upstream call failed: its HTTP status (None when it never answered), and a
        # condition where the kind alone does not tell (a refused connection, a too-long prompt).
        self.upstream_status: int | None = None
        self.condition: Condition | None = None


def invalid(message: str, param: str | None = None) -> GatewayError:
    return GatewayError("invalid_request", message, param=param)


ECHO_MAX_CHARS = 100  # of a client's value repeated in an error message


def echo(value: object) -> str:
    """A client's value quoted for an error message: at most ECHO_MAX_CHARS of a string, and its
    length when cut (a 1 MB model name costs a short 404, not a 1 MB one); a JSON array or object
    only by its kind."""
    if isinstance(value, str):
        if len(value) <= ECHO_MAX_CHARS:
            return repr(value)
        return f"{value[:ECHO_MAX_CHARS]!r}…({len(value)} chars)"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)[:ECHO_MAX_CHARS]
    return "an array" if isinstance(value, list) else "an object" if isinstance(value, dict) else "a value"


def kind_for_status(status: int) -> Kind:
    """The canonical kind of an upstream HTTP error status."""
    if status == 400 or status == 422:
        return "invalid_request"
    if status == 401:
        return "authentication"
    if status == 403:
        return "permission"
    if status == 404:
        return "not_found"
    if status == 413:
        return "request_too_large"
    if status == 429:
        return "rate_limit"
    if status in (503, 529):
        return "overloaded"
    if status == 504:
        return "timeout"
    if status >= 500:
        return "upstream"
    return "invalid_request"
