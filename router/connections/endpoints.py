"""The URLs the router calls out to: which are accepted, and how path parameters fill them in.

An API destination's `InvocationEndpoint` and an OAuth connection's `AuthorizationEndpoint` are checked when they
are created or updated (after the model's pattern, which lets `file:`, `gopher:` and `ftp:` through): the scheme is
`https` or `http`, there is a host name, and the host holds no `*`, no user info. AWS accepts HTTPS only; Switchboard
also takes `http`, because it runs beside the services it calls (a receiver on a laptop, in CI or a compose
network usually has no certificate), and everything it calls is one the user configured. A refused endpoint gets
AWS's error: `ValidationException` "Failed to create the api-destination(s). Parameter InvocationEndpoint is not
valid. Reason: Endpoint '...' is invalid, please provide a valid HTTPS endpoint URL." (with "or HTTP" here).

At delivery, each `*` in the endpoint's *path* is replaced, in order, by the target's next
`HttpParameters.PathParameterValues` entry, percent-encoded as one path segment (`/` becomes `%2F`, and a value of
`.` or `..` is encoded too, so a value can neither add segments nor climb out of the path). A `*` in the query
stays as it is. Values left over are ignored; a `*` left over stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import quote, urlsplit, urlunsplit

from router.errors import ValidationException

__all__ = ["check_endpoint", "fill_path"]

SCHEMES = frozenset({"https", "http"})


def check_endpoint(url: str, *, parameter: str, action: str, resource: str) -> None:
    """ValidationException unless `url` is an http(s) URL with a plain host name.

    `parameter` is the request member (`InvocationEndpoint`), `action` `create` or `update`, `resource` what is
    being changed (`api-destination`, `connection`), for AWS's message."""
    if not _acceptable(url):
        raise ValidationException(
            f"Failed to {action} the {resource}(s). Parameter {parameter} is not valid. Reason: Endpoint '{url}' is "
            "invalid, please provide a valid HTTPS or HTTP endpoint URL."
        )


def _acceptable(url: str) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return False
    if parts.scheme.lower() not in SCHEMES or not parts.hostname:
        return False
    return "*" not in parts.netloc and "@" not in parts.netloc


def fill_path(endpoint: str, values: Sequence[object]) -> str:
    """`endpoint` with each `*` of its path replaced by the next value, as one percent-encoded path segment."""
    if not values or "*" not in endpoint:
        return endpoint
    parts = urlsplit(endpoint)
    pieces = parts.path.split("*")
    path = [pieces[0]]
    for index, piece in enumerate(pieces[1:]):
        path.append(_segment(str(values[index])) if index < len(values) else "*")
        path.append(piece)
    return urlunsplit((parts.scheme, parts.netloc, "".join(path), parts.query, parts.fragment))


def _segment(value: str) -> str:
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")
