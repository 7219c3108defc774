"""Which AWS service a request was meant for, from the botocore models installed beside the router.

Switchboard listens on one port for every SDK a user points at it, so a request for a service it does not serve
must still be recognised, to answer in that service's own wire protocol and name it. The facts come from the
`metadata` block that opens each botocore `service-2.json.gz` (read once, lazily: the first 4 KiB of ~450 files,
about 80 ms): the service id and full name, its protocol (resolved in botocore's own priority order, so the answer
is in the protocol the SDK parses), JSON version, `X-Amz-Target` prefix, SigV4 signing name and API version.

`identify` looks at what an SDK puts on every request, in this order: the `X-Amz-Target` prefix (JSON protocols);
the Smithy RPC v2 CBOR path `/service/<name>/operation/<op>`; the SigV4 credential scope
(`Credential=KEY/DATE/REGION/<signing name>/aws4_request`, in the Authorization header or a presigned URL's
`X-Amz-Credential`); the query protocol's `Version=` form field; and, for unsigned REST requests, a few well-known
path prefixes. Anything else is `None` (the caller answers a generic error that lists what is served).
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

__all__ = ["AwsService", "catalogue", "identify"]

_PRIORITY = ("json", "rest-json", "rest-xml", "smithy-rpc-v2-cbor", "query", "ec2")
"""botocore.utils.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS: how botocore picks among a model's `protocols`."""

_UNSIGNED_PATHS: tuple[tuple[str, str], ...] = (
    ("/v1/registries", "schemas"),
    ("/v1/discoverers", "schemas"),
    ("/schedules", "scheduler"),
    ("/schedule-groups", "scheduler"),
    ("/2015-03-31/functions", "lambda"),
)
"""REST paths an unsigned request can be told by (signed requests name their service in the credential scope)."""


@dataclass(frozen=True, slots=True)
class AwsService:
    """One AWS service as botocore models it."""

    name: str
    """botocore's service name (`boto3.client(name)`), e.g. `dynamodb`, `schemas`."""
    title: str
    """The full name, e.g. `Amazon DynamoDB`."""
    protocol: str
    """`json`, `rest-json`, `rest-xml`, `smithy-rpc-v2-cbor`, `query` or `ec2`: what the SDK speaks."""
    json_version: str
    target_prefix: str
    signing_name: str
    api_version: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    services: Mapping[str, AwsService]
    by_target: Mapping[str, AwsService]
    by_signing_name: Mapping[str, AwsService]
    by_api_version: Mapping[str, AwsService]
    """Query and EC2 protocol services by API version (their requests carry `Version=`)."""


def _resolved_protocol(metadata: Mapping[str, object]) -> str:
    protocols = metadata.get("protocols")
    if isinstance(protocols, list):
        for protocol in _PRIORITY:
            if protocol in protocols:
                return protocol
    return str(metadata.get("protocol", "rest-json"))


def _metadata(path: Path) -> dict[str, object] | None:
    """The `metadata` object at the start of one `service-2.json.gz` (None when it cannot be read)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
        text = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head).decode("utf-8", "replace")
        start = text.index("{", text.index('"metadata"'))
        metadata, _ = json.JSONDecoder().raw_decode(text, start)
    except (OSError, ValueError, zlib.error):
        return None
    return metadata if isinstance(metadata, dict) else None


@functools.cache
def catalogue() -> Catalogue:
    """Every service of the installed botocore (its newest API version), indexed the ways `identify` needs."""
    import botocore

    root = Path(botocore.__file__).parent / "data"
    services: dict[str, AwsService] = {}
    for directory in sorted(root.iterdir()) if root.is_dir() else ():
        versions = sorted(v.name for v in directory.iterdir() if v.name[:1].isdigit()) if directory.is_dir() else []
        if not versions:
            continue
        metadata = _metadata(directory / versions[-1] / "service-2.json.gz")
        if metadata is None:
            continue
        services[directory.name] = AwsService(
            name=directory.name,
            title=str(metadata.get("serviceFullName") or metadata.get("serviceId") or directory.name),
            protocol=_resolved_protocol(metadata),
            json_version=str(metadata.get("jsonVersion", "1.0")),
            target_prefix=str(metadata.get("targetPrefix", "")),
            signing_name=str(metadata.get("signingName") or metadata.get("endpointPrefix") or directory.name),
            api_version=str(metadata.get("apiVersion", "")),
        )
    by_target: dict[str, AwsService] = {}
    by_signing: dict[str, AwsService] = {}
    by_version: dict[str, AwsService] = {}
    for service in services.values():  # sorted by name: the first service keeps a shared key
        if service.target_prefix:
            by_target.setdefault(service.target_prefix, service)
        by_signing.setdefault(service.signing_name, service)
        if service.protocol in ("query", "ec2"):
            by_version.setdefault(service.api_version, service)
    for service in services.values():  # a signing name that is also a service's own name means that service
        if service.name == service.signing_name:
            by_signing[service.name] = service
    return Catalogue(services, by_target, by_signing, by_version)


def signing_name(headers: Mapping[str, str], query_string: str) -> str | None:
    """The service a SigV4-signed request names in its credential scope; None for an unsigned request."""
    credential = None
    authorization = headers.get("authorization", "")
    marker = authorization.find("Credential=")
    if marker >= 0:
        credential = authorization[marker + len("Credential=") :].split(",", 1)[0].strip()
    elif "X-Amz-Credential" in query_string:
        values = parse_qs(query_string).get("X-Amz-Credential")
        credential = values[0] if values else None
    if not credential:
        return None
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 and parts[4] == "aws4_request" else None


def identify(
    headers: Mapping[str, str], path: str, query_string: str, form: Mapping[str, str] | None = None
) -> AwsService | None:
    """The AWS service this request was meant for, or None when nothing on it says."""
    known = catalogue()
    target = headers.get("x-amz-target")
    if target:
        service = known.by_target.get(target.split(".", 1)[0])
        if service is not None:
            return service
    if headers.get("smithy-protocol") == "rpc-v2-cbor" and path.startswith("/service/"):
        service = known.by_target.get(path.split("/")[2])
        if service is not None:
            return service
    name = signing_name(headers, query_string)
    if name is not None:
        service = known.by_signing_name.get(name)
        if service is not None:
            return service
    if form is not None and form.get("Version"):
        service = known.by_api_version.get(form["Version"])
        if service is not None:
            return service
    for prefix, service_name in _UNSIGNED_PATHS:
        if path == prefix or path.startswith(prefix + "/"):
            return known.services.get(service_name)
    return None
