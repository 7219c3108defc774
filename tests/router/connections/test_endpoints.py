"""Outbound URLs (router.connections.endpoints): http and https only, with a plain host; path parameters fill path
segments only, percent-encoded."""

from __future__ import annotations

import pytest

from router.connections.endpoints import check_endpoint, fill_path
from router.errors import ValidationException


@pytest.mark.parametrize(
    "url",
    [
        "https://api.example.com/hook",
        "http://127.0.0.1:8080/x/*/y",
        "HTTPS://Example.COM",
        "https://example.com/a?token=*&x=1",
    ],
)
def test_http_and_https_endpoints_are_accepted(url: str) -> None:
    check_endpoint(url, parameter="InvocationEndpoint", action="create", resource="api-destination")


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/_x",
        "ftp://example.com/file",
        "example.com/hook",  # no scheme
        "https:///path",  # no host
        "http://*/x",  # a wildcard in the host: a path parameter would choose it
        "http://api.*.example.com/x",
        "http://user:pass@example.com/x",
        "http://example.com:port/x",
    ],
)
def test_other_endpoints_are_refused_with_aws_message(url: str) -> None:
    with pytest.raises(ValidationException) as raised:
        check_endpoint(url, parameter="InvocationEndpoint", action="update", resource="api-destination")
    assert raised.value.message == (
        f"Failed to update the api-destination(s). Parameter InvocationEndpoint is not valid. Reason: Endpoint "
        f"'{url}' is invalid, please provide a valid HTTPS or HTTP endpoint URL."
    )


def test_path_parameters_fill_path_wildcards_in_order() -> None:
    assert fill_path("https://h.example/a/*/b/*", ["x", "y"]) == "https://h.example/a/x/b/y"


@pytest.mark.parametrize(
    ("value", "segment"),
    [
        ("a/b", "a%2Fb"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a b?c#d", "a%20b%3Fc%23d"),
        ("é", "%C3%A9"),
        ("evil.example", "evil.example"),
        ("x\r\nHost: y", "x%0D%0AHost%3A%20y"),
    ],
)
def test_a_path_parameter_is_one_percent_encoded_segment(value: str, segment: str) -> None:
    assert fill_path("https://h.example/api/*/end", [value]) == f"https://h.example/api/{segment}/end"


def test_wildcards_outside_the_path_are_not_filled() -> None:
    # An endpoint stored before hosts were checked keeps its `*` host: the call fails as an invalid URL.
    assert fill_path("http://*/x/*", ["evil.example", "p"]) == "http://*/x/evil.example"
    assert fill_path("https://h.example/x?q=*", ["v"]) == "https://h.example/x?q=*"


def test_missing_values_leave_wildcards_and_extra_values_are_ignored() -> None:
    assert fill_path("https://h.example/*/*", ["a"]) == "https://h.example/a/*"
    assert fill_path("https://h.example/*", ["a", "b"]) == "https://h.example/a"
    assert fill_path("https://h.example/x", ["a"]) == "https://h.example/x"
