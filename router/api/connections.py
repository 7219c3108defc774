"""Connections: CreateConnection, DescribeConnection, ListConnections, UpdateConnection, DeleteConnection and
DeauthorizeConnection.

Thin handlers over router.connections.store, which owns the records, the encrypted credentials and the states.
Responses carry exactly the members of each operation's output shape; Describe and List never carry a secret (the
store keeps secrets out of the records they read). The start-up hook builds the process's `ConnectionStore` and
`ConnectionAuth` (router.connections.auth) and registers them in `state.extras`, where the delivery engine finds
them; the shut-down hook closes the auth HTTP client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from router.api._control import paginate, pick, with_token
from router.connections.auth import ConnectionAuth
from router.connections.secrets import SecretBox
from router.connections.store import ConnectionStore
from router.protocol import Handler
from router.state import AppState

STORE = "connection_store"
AUTH = "connection_auth"

_DESCRIBE = (
    "ConnectionArn",
    "Name",
    "Description",
    "InvocationConnectivityParameters",
    "ConnectionState",
    "StateReason",
    "AuthorizationType",
    "SecretArn",
    "KmsKeyIdentifier",
    "AuthParameters",
    "CreationTime",
    "LastModifiedTime",
    "LastAuthorizedTime",
)
_SUMMARY = (
    "ConnectionArn",
    "Name",
    "ConnectionState",
    "StateReason",
    "AuthorizationType",
    "CreationTime",
    "LastModifiedTime",
    "LastAuthorizedTime",
)
_CREATE = ("ConnectionArn", "ConnectionState", "CreationTime", "LastModifiedTime")
_CHANGE = (*_CREATE, "LastAuthorizedTime")


def store(state: AppState) -> ConnectionStore:
    """The process's connection store of the request's namespace (router.namespace; created on first use, so
    in-process callers need no start-up hook)."""
    found = state.extras.get(STORE)
    if found is None:
        box = SecretBox.from_settings(state.settings)
        found = state.extras[STORE] = ConnectionStore(state.redis, state.keys, state.settings, box, state.home)
    assert isinstance(found, ConnectionStore)
    return found.within(state.namespace)


async def create_connection(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    return pick(await store(state).create_connection(body), _CREATE)


async def describe_connection(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    return pick(await store(state).get_connection(body["Name"]), _DESCRIBE)


async def list_connections(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    return list_page(await store(state).list_connections(), body, "ConnectionState", "Connections", _SUMMARY)


async def update_connection(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    return _changed(state, await store(state).update_connection(body))


async def delete_connection(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    return _changed(state, await store(state).delete_connection(body["Name"]))


async def deauthorize_connection(state: AppState, body: dict[str, Any]) -> Mapping[str, Any]:
    return _changed(state, await store(state).deauthorize_connection(body["Name"]))


def _changed(state: AppState, record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The answer to a change of a connection's credentials or existence, once its cached token is dropped."""
    auth = state.extras.get(AUTH)
    if isinstance(auth, ConnectionAuth):
        auth.invalidate(record["ConnectionArn"])
    return pick(record, _CHANGE)


def list_page(
    records: Sequence[Mapping[str, Any]],
    body: Mapping[str, Any],
    filter_member: str,
    output: str,
    summary: Sequence[str],
) -> Mapping[str, Any]:
    """One page of a List operation over records by name: `NamePrefix`, then an exact match on `filter_member` when
    the request gives it (ConnectionState, or an API destination's ConnectionArn), then the control plane's paging."""
    prefix = body.get("NamePrefix") or ""
    wanted = body.get(filter_member)
    chosen = [r for r in records if r["Name"].startswith(prefix) and (wanted is None or r.get(filter_member) == wanted)]
    items, next_token = paginate(chosen, lambda record: str(record["Name"]), body)
    return with_token({output: [pick(r, summary) for r in items]}, next_token)


async def on_startup(state: AppState) -> None:
    state.extras[AUTH] = ConnectionAuth(store(state))


async def on_shutdown(state: AppState) -> None:
    auth = state.extras.pop(AUTH, None)
    if isinstance(auth, ConnectionAuth):
        await auth.aclose()


OPERATIONS: dict[str, Handler] = {
    "CreateConnection": create_connection,
    "DescribeConnection": describe_connection,
    "ListConnections": list_connections,
    "UpdateConnection": update_connection,
    "DeleteConnection": delete_connection,
    "DeauthorizeConnection": deauthorize_connection,
}
