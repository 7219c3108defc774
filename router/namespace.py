"""Accounts and regions: which (account, region) namespace a request's resources live in, decided in one place.

Every resource of the events API (buses, rules, targets, tags, connections, API destinations, archives, replays,
permissions) belongs to one `Namespace(account_id, region)`, as on AWS, where the same bus name in two regions or two
accounts names two buses. A request's namespace comes from its SigV4 credential scope, the way other emulators users
know decide it (there is no IAM here, so nothing is verified):

- the **region** is the scope's region (`Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/
  aws4_request, ...`, or a presigned URL's `X-Amz-Credential` query parameter), when it is a region name
  (`[a-z]{2,}(-[a-z]+)+-[0-9]+`); else the settings' `region`;
- the **account** is the access key id when it is exactly 12 digits (`AWS_ACCESS_KEY_ID=111122223333`); else the
  settings' `account_id`.

So a client with the usual test credentials (`testing`, `AKIA...`) works in the settings' namespace, the *home*
namespace, exactly as before namespaces existed; `resolve_scope` (ASGI scope) and `resolve` (headers and query text)
answer the same. The dispatcher (router.protocol) enters the request's namespace for the handler with `entered`;
handlers read it through `AppState.namespace` (and `state.region`, `state.account_id`), and background work (ingest,
delivery, timers) never has one: it finds a resource's namespace from the resource's key-layout name
(router.keys `Keys.scoped`/`Keys.unscoped`), so workers serve every namespace's buses with the same code.

Acting in another namespace from code (global endpoints routing to another region's bus, tests): `stores(state, ns)`
(router.store) gives the bus and rule stores of `ns`; `with entered(ns): ...` runs handlers as a caller of `ns`;
`router.api.put_events.append_envelopes(state, ns, bus, items, results)` appends built envelopes to `ns`'s bus;
`state.keys.scoped(name, ns)` is the bus's key-layout name every key of it is built from; `parse_bus_arn(arn)` reads
a bus ARN of any partition, account and region (the one bus-ARN reader: PutEvents, PutTargets, bus-target delivery,
global endpoints and the key layout all use it).
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qs

from router.arns import Arns

__all__ = [
    "ACCOUNT_PATTERN",
    "DEFAULT",
    "REGION_PATTERN",
    "BusArn",
    "Namespace",
    "current",
    "enter",
    "entered",
    "leave",
    "namespace_of_arn",
    "parse_bus_arn",
    "rebound",
    "resolve",
    "resolve_scope",
    "valid_account",
    "valid_region",
]

REGION_PATTERN = r"[a-z]{2,}(-[a-z]+)+-[0-9]+"
"""What a region name is (matched whole): a credential scope's region counts only then; the config files' schema too."""
ACCOUNT_PATTERN = r"[0-9]{12}"
"""What an account id is (matched whole): 12 digits."""
_REGION = re.compile(REGION_PATTERN)
_ACCOUNT = re.compile(ACCOUNT_PATTERN)
_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")
_BUS_ARN = re.compile(r"arn:(aws[a-z-]*):events:([^:]*):([^:]*):event-bus/(.+)")


def valid_region(region: str) -> bool:
    """Whether `region` is a region name (a credential scope's region is used only then)."""
    return _REGION.fullmatch(region) is not None


def valid_account(account: str) -> bool:
    """Whether `account` is an account id (12 digits): an access key id that is one names the account."""
    return _ACCOUNT.fullmatch(account) is not None


@dataclass(frozen=True, slots=True)
class Namespace:
    """One (account, region): where a resource lives, and what its ARNs say."""

    account_id: str
    region: str

    @property
    def arns(self) -> Arns:
        """The events ARN builder and reader of this namespace."""
        return Arns(self.region, self.account_id)

    def bus_arn(self, name: str) -> str:
        return self.arns.bus(name)

    def __str__(self) -> str:
        return f"{self.account_id}/{self.region}"


DEFAULT = Namespace("123456789012", "us-east-1")
"""The settings' defaults (router.settings `account_id`, `region`): the home namespace unless configured."""


class _Bound(Protocol):
    namespace: Namespace


_B = TypeVar("_B", bound=_Bound)


def rebound(store: _B, namespace: Namespace) -> _B:
    """`store` itself when it is bound to `namespace`, else a shallow copy bound to it (the stores' `within`: one
    instance per process shares its registered scripts, each request gets the copy of its namespace)."""
    if store.namespace == namespace:
        return store
    other = copy.copy(store)
    other.namespace = namespace
    return other


@dataclass(frozen=True, slots=True)
class BusArn:
    """An event bus ARN, read: `arn:PARTITION:events:REGION:ACCOUNT:event-bus/NAME`."""

    partition: str
    """`aws`, `aws-cn`, `aws-us-gov`, ...: kept so an ARN built back from the parts is the one given."""
    namespace: Namespace
    name: str
    """The bus name; a partner bus's has slashes (`aws.partner/example.com/1`)."""

    @property
    def region(self) -> str:
        return self.namespace.region

    @property
    def account(self) -> str:
        return self.namespace.account_id

    @property
    def partner(self) -> bool:
        """Whether it names a partner event bus (the model's NonPartnerEventBusArn refuses those)."""
        return "/" in self.name

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:events:{self.region}:{self.account}:event-bus/{self.name}"


def parse_bus_arn(arn: str) -> BusArn | None:
    """The event bus an ARN of any partition, account and region names; None for anything else (another
    resource's ARN, a region that is no region name, an account that is not 12 digits, a bare name)."""
    found = _BUS_ARN.fullmatch(arn)
    if found is None:
        return None
    partition, region, account, name = found.groups()
    if not valid_region(region) or not valid_account(account):
        return None
    return BusArn(partition, Namespace(account, region), name)


def namespace_of_arn(arn: str) -> Namespace | None:
    """The (account, region) an ARN names (`arn:PARTITION:SERVICE:REGION:ACCOUNT:...`); None when it names none."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and valid_region(parts[3]) and valid_account(parts[4]):
        return Namespace(parts[4], parts[3])
    return None


def _from_credential(credential: str, default: Namespace) -> Namespace:
    """The namespace a credential `AKID/DATE/REGION/SERVICE/aws4_request` names (the default's parts otherwise)."""
    parts = credential.split("/")
    account = parts[0] if valid_account(parts[0]) else default.account_id
    region = parts[2] if len(parts) >= 3 and valid_region(parts[2]) else default.region
    if (account, region) == (default.account_id, default.region):
        return default
    return Namespace(account, region)


def resolve(headers: Mapping[str, str], query: str, default: Namespace) -> Namespace:
    """The namespace of a request with these headers (names in lower case) and this query string."""
    authorization = headers.get("authorization")
    if authorization:
        found = _CREDENTIAL.search(authorization)
        if found is not None:
            return _from_credential(found.group(1), default)
    if query and "X-Amz-Credential" in query:
        credentials = parse_qs(query).get("X-Amz-Credential")
        if credentials:
            return _from_credential(credentials[0], default)
    return default


def resolve_scope(scope: Mapping[str, Any], default: Namespace) -> Namespace:
    """The namespace of an ASGI request scope (its `headers` and `query_string`)."""
    headers: dict[str, str] = {}
    for name, value in scope.get("headers") or ():
        if name.lower() == b"authorization":
            headers["authorization"] = value.decode("latin-1")
    raw_query = scope.get("query_string") or b""
    query = raw_query.decode("latin-1") if isinstance(raw_query, bytes) else str(raw_query)
    return resolve(headers, query, default)


_current: ContextVar[Namespace | None] = ContextVar("switchboard_namespace", default=None)


def current() -> Namespace | None:
    """The namespace of the request being handled; None outside a request (background work, start-up)."""
    return _current.get()


def enter(namespace: Namespace) -> Token[Namespace | None]:
    """Enter `namespace` until `leave(token)` (the dispatcher's form of `entered`)."""
    return _current.set(namespace)


def leave(token: Token[Namespace | None]) -> None:
    _current.reset(token)


@contextlib.contextmanager
def entered(namespace: Namespace) -> Iterator[Namespace]:
    """Handle what runs inside in `namespace` (the dispatcher enters each request's; tests and in-process callers
    enter one to act as another account or region)."""
    token = _current.set(namespace)
    try:
        yield namespace
    finally:
        _current.reset(token)
