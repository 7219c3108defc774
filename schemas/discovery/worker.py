"""The discovery worker: infers schemas from the events the discovery target copied, off the ingest path.

Every router process runs one. It reads the discovery stream of each bus with a STARTED discoverer through the
consumer group `schemas-discovery` (so processes share the work, and events of a process that died are claimed
after `CLAIM_IDLE_S`), and for each event:

1. names the schema `<source>@<DetailType without spaces>` and computes the detail's structural key
   (`infer.shape_key`); a (schema, key) pair this process has already merged is skipped: unchanged traffic costs a
   parse and a set look-up;
2. otherwise merges the new shapes into the inferred structure stored on the schema record in
   `discovered-schemas` (check-and-set, so concurrent processes never lose a field or double a version); when the
   structure's fingerprint changes, it writes a new version (OpenAPI 3, `infer.to_openapi`) and emits
   `aws.schemas` "Schema Version Created" onto the bus, as AWS does.

Buses of every (account, region) namespace are served alike (router.namespace): a discoverer's bus is read by its
key-layout name (router.keys `Keys.scoped`), its schemas go to its own namespace's `discovered-schemas` registry
(schemas.store `within`), and "Schema Version Created" goes onto its bus as a PutEvents of that namespace.

A version whose document would exceed the model's 100,000-character `Content` limit is not written (logged). The
seen-key sets are bounded (`MAX_SEEN_PER_SCHEMA`): past that they are cleared, which only costs re-merging.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Sequence
from typing import Any

import orjson
from redis.exceptions import RedisError, ResponseError

from router.api.put_events import put_events
from router.namespace import Namespace, entered
from router.state import AppState
from schemas.api.protocol import iso8601
from schemas.api.schema_ops import new_schema_record, new_version
from schemas.discovery.discoverers import every_discoverer
from schemas.discovery.infer import fingerprint, merge, schema_name, shape_key, to_openapi
from schemas.keys import SchemaKeys
from schemas.store import DISCOVERED, Record, now_s

__all__ = ["GROUP", "DiscoveryWorker"]

log = logging.getLogger("switchboard.schemas.discovery")

GROUP = "schemas-discovery"
MAX_CONTENT_CHARS = 100_000
MAX_SEEN_PER_SCHEMA = 1_000
CLAIM_IDLE_S = 30.0
_BATCH = 500


class DiscoveryWorker:
    def __init__(self, state: AppState, *, poll_s: float = 0.2, refresh_s: float = 1.0) -> None:
        from schemas.services import store

        self.state = state
        self.store = store(state)
        self.poll_s = poll_s
        self.refresh_s = refresh_s
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self.seen: dict[tuple[Namespace, str], set[int]] = {}
        """(namespace, schema name) -> the structural keys already merged into its discovered schema."""
        self._buses: list[str] = []
        self._buses_at = -1e9
        self._groups: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._loops = 0
        self.versions_created = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="schemas-discovery")

    async def stop(self) -> None:
        """Stop the loop. A cancellation that lands inside a Redis call can be turned into a Redis error by the
        client, so the loop also checks `_stopping`, and stop waits a bounded time."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                worked = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis down, a bug: log and keep going, never take the process down
                log.exception("schema discovery failed; retrying")
                worked = False
            if not worked:
                await asyncio.sleep(self.poll_s)

    async def _started_buses(self) -> list[str]:
        """The key-layout names of the buses of every namespace with a STARTED discoverer."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._buses_at >= self.refresh_s:
            found = await every_discoverer(self.state)
            keys = self.state.keys
            self._buses = [keys.scoped(d["EventBusName"], ns) for ns, d in found if d.get("State") == "STARTED"]
            self._buses_at = loop.time()
        return self._buses

    async def run_once(self) -> bool:
        """Process what is waiting on every discovered bus; True if there was anything."""
        worked = False
        self._loops += 1
        for bus in await self._started_buses():
            stream = SchemaKeys.discovery_stream(self.state.keys, bus)
            entries = await self._read(stream)
            if self._loops % 50 == 0:
                entries += await self._claim(stream)
            if not entries:
                continue
            worked = True
            await self.process(bus, [fields.get(b"event", b"") for _, fields in entries])
            ids = [entry_id for entry_id, _ in entries]
            async with self.state.redis.pipeline(transaction=True) as pipe:
                pipe.xack(stream, GROUP, *ids)
                pipe.xdel(stream, *ids)
                await pipe.execute()
        return worked

    async def _read(self, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        redis = self.state.redis
        if stream not in self._groups:
            with contextlib.suppress(ResponseError):  # BUSYGROUP: another process made it
                await redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
            self._groups.add(stream)
        try:
            reply: Any = await redis.xreadgroup(GROUP, self.consumer, {stream: ">"}, count=_BATCH)
        except ResponseError as err:
            if "NOGROUP" in str(err):
                self._groups.discard(stream)
                return []
            raise
        return [(entry_id, fields) for _, items in reply or [] for entry_id, fields in items]

    async def _claim(self, stream: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        try:
            reply: Any = await self.state.redis.xautoclaim(
                stream, GROUP, self.consumer, min_idle_time=int(CLAIM_IDLE_S * 1000), count=_BATCH
            )
        except RedisError:
            return []
        claimed: list[tuple[bytes, dict[bytes, bytes]]] = [
            (entry_id, fields) for entry_id, fields in reply[1] if fields
        ]
        return claimed

    async def process(self, bus: str, events: Sequence[bytes]) -> None:
        """Merge the new shapes among `events` (envelope JSON) into the discovered schemas of the namespace of `bus`
        (its key-layout name)."""
        namespace = self.state.keys.unscoped(bus)[0]
        pending: dict[str, tuple[str, str, dict[int, Any]]] = {}
        for raw in events:
            try:
                event = orjson.loads(raw)
                source, detail_type, detail = event["source"], event["detail-type"], event["detail"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
            if not isinstance(source, str) or not isinstance(detail_type, str):
                continue
            name = schema_name(source, detail_type)
            key = shape_key(detail)
            if key in self.seen.get((namespace, name), ()):
                continue
            pending.setdefault(name, (source, detail_type, {}))[2].setdefault(key, detail)
        for name, (source, detail_type, shapes) in pending.items():
            await self._merge(bus, name, source, detail_type, list(shapes.values()))
            seen = self.seen.setdefault((namespace, name), set())
            if len(seen) + len(shapes) > MAX_SEEN_PER_SCHEMA:
                seen.clear()
            seen.update(shapes)

    async def _merge(self, bus: str, name: str, source: str, detail_type: str, details: list[Any]) -> None:
        """Merge `details` into schema `name` of the discovered-schemas registry of the namespace of `bus` (its
        key-layout name)."""
        namespace, bus_name = self.state.keys.unscoped(bus)
        store = self.store.within(namespace)
        current = await store.get_schema(DISCOVERED, name)
        previous = current.get("Inferred") if current is not None else None
        # genson recurses (within infer.MAX_DEPTH levels): on a fresh thread stack, never the event loop's
        inferred = await asyncio.to_thread(merge, previous, details)
        mark = fingerprint(inferred)
        if current is not None and current.get("Fingerprint") == mark:
            return
        content = orjson.dumps(to_openapi(source, detail_type, inferred)).decode()
        if len(content) > MAX_CONTENT_CHARS:
            log.warning("discovered schema %s is over %d characters; no version written", name, MAX_CONTENT_CHARS)
            return
        made: list[Record] = []

        def write(record: Record | None) -> tuple[Record | None, dict[str, Record | None]]:
            made.clear()
            if record is not None and record.get("Fingerprint") == mark:
                return record, {}
            at_s = now_s()
            if record is None:
                arn = store.arns.schema(DISCOVERED, name)
                new = new_schema_record(arn, name, "OpenApi3", description=None, tags={}, at_s=at_s)
                number = 1
            else:
                number = int(record["NextVersion"])
                new = {**record, "LatestVersion": number, "NextVersion": number + 1, "LastModified": at_s}
                new["VersionCount"] = int(record["VersionCount"]) + 1
            version = new_version(number, "OpenApi3", content, at_s)
            new.update(LatestDigest=version["Digest"], Inferred=inferred, Fingerprint=mark)
            made.append(version)
            return new, {str(number): version}

        await store.change_schema(DISCOVERED, name, write)
        if made:
            self.versions_created += 1
            await self._announce(namespace, bus_name, name, made[0])

    async def _announce(self, namespace: Namespace, bus: str, name: str, version: Record) -> None:
        """Put "Schema Version Created" onto bus `bus` of `namespace`, as a caller there."""
        detail = {
            "SchemaName": name,
            "SchemaType": "OpenApi3",
            "RegistryName": DISCOVERED,
            "CreationDate": iso8601(float(version["VersionCreatedDate"])),
            "Version": version["SchemaVersion"],
        }
        entry = {
            "EventBusName": bus,
            "Source": "aws.schemas",
            "DetailType": "Schema Version Created",
            "Detail": orjson.dumps(detail).decode(),
            "Resources": [self.store.within(namespace).arns.schema(DISCOVERED, name)],
        }
        with entered(namespace):
            result = await put_events(self.state, {"Entries": [entry]})
        if result.get("FailedEntryCount"):
            log.warning("could not emit Schema Version Created for %s on %s: %s", name, bus, result.get("Entries"))
