"""Extensions: how the top-level packages (`archive/`, `schemas/`, `sagas/`) plug into the router without it
importing them.

The router is the service; features such as archives or the schema registry live in their own packages on top of
it. `router` never imports those packages by name. Instead each one declares an `Extension` and registers a factory
for it under the `switchboard.extensions` entry-point group in `pyproject.toml`:

    [project.entry-points."switchboard.extensions"]
    schemas = "schemas.extension:extension"

`router.app.create_app` loads every installed extension (or the explicit list a test passes) and wires what each
declares:

- `operations`: handlers for operations of the `events` API (AWS JSON 1.1, e.g. CreateArchive), added to the
  dispatcher beside router/api's. An operation registered twice is a start-up error, never a silent override.
- `services`: `router.services.Service` objects (an ASGI app and what recognises its requests: X-Amz-Target
  prefixes, SigV4 signing names, path prefixes), mounted on the one port's service registry beside `events`, so
  the API's requests signed for it reach it and everything else still gets the not-served errors
  (docs/services.md). REST APIs such as the Schemas API plug in here.
- `routes`: starlette routes mounted on the one port before the router's own (pages under `/ui/`).
- `ui_links`: `router.ui.UiLink` entries of the browse pages' navigation (title, path, order); `router.app`
  collects every extension's into `state.extras["ui_links"]`, which the base layout (`router/ui/`) and the `/ui/`
  index list. Pages extend `base.html` through `router.ui.templates(their_template_dir)`.
- `internal_targets`: target kinds the delivery sink hands to the extension instead of delivering them, for the
  managed rules AWS builds its own features from (schema discovery's `Schemas-events-event-bus-<bus>`, an
  archive's `Events-Archive-<name>`). A rule target whose ARN is `internal_target_arn(kind, name, ...)`
  (`arn:aws:events:<region>:<account>:internal/<kind>/<name>`) is passed, for each matched event, to the kind's
  `InternalTarget`, which returns Redis commands on keys of the bus's own hash slot (build them from
  `keys.bus_tag(bus)`). The ingest worker stages them with the batch, so they commit atomically with its
  acknowledgement: once per accepted event, never on the PutEvents path. The callable must do no I/O.
  A kind whose work is cheaper per batch (archives: one tight compression loop, no object per event) declares an
  `InternalBatchTarget` instead: the sink calls it once per routed batch and matched target with every event of
  the batch (`InternalBatch`), and it returns one list of commands per event, committed with that event's ack.
- `cli`: `CliCommand`s, each a top-level `switchboard` subcommand (e.g. `switchboard archive ...`): `add` gets the
  subparsers object and adds its parser (with its own sub-subcommands), `run` gets the parsed arguments and
  returns the exit code. `router.cli` adds every installed extension's commands and runs the one named.
- `entry_checks`: per-bus checks of PutEvents entries (beyond AWS, e.g. schema validation). Each is an
  `EntryCheckFactory`: `(state, bus) -> EntryCheck | None` (`bus` is the bus's key-layout name, router.keys
  `Keys.scoped`, since it may be another namespace's: `state.keys.unscoped(bus)` gives its namespace), where the
  `EntryCheck` gets one entry (after the router's own checks) and returns None to accept it or
  `(ErrorCode, ErrorMessage)` to fail that entry alone.
  `EntryCheckCache` (in `state.extras["entry_checks"]`, only when some extension declares checks) asks the
  factories at most once per bus per `ttl_s` (callers that find the bus's checks expired together share one
  read) and runs the bus's checks before the append; with no factory installed PutEvents does no extra work at all.
- `metrics`: `MetricsSource`s, each `(state) -> Metric families` (prometheus_client), awaited at every scrape of
  `/metrics` and rendered after the router's own (e.g. the sagas' counts per type and state, read from Redis). A
  source must keep its label sets bounded, like the router's (router.metrics).
- `startup` / `shutdown`: hooks awaited with the process's `AppState` after the router's own start-up hooks and
  before its workers start (shut-down runs in reverse); extensions keep their services in `state.extras`.

An extension is a frozen value: loading one has no side effects beyond importing its module.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.core import Metric
from starlette.routing import BaseRoute

from router.keys import Keys
from router.protocol import Handler
from router.services import Service
from router.state import AppState
from router.ui import UiLink

__all__ = [
    "ENTRY_POINT_GROUP",
    "CliCommand",
    "Command",
    "EntryCheck",
    "EntryCheckCache",
    "EntryCheckFactory",
    "Extension",
    "ExtensionError",
    "Hook",
    "InternalBatch",
    "InternalBatchTarget",
    "InternalDelivery",
    "InternalTarget",
    "MetricsSource",
    "installed",
    "internal_target_arn",
    "internal_target_kind",
    "merge_cli",
    "merge_internal_targets",
    "merge_operations",
]

ENTRY_POINT_GROUP = "switchboard.extensions"

Hook = Callable[[AppState], Awaitable[None]]
"""A start-up or shut-down hook."""

MetricsSource = Callable[[AppState], Awaitable[Sequence[Metric]]]
"""Metric families an extension adds to `/metrics`, computed at scrape time."""


@dataclass(frozen=True, slots=True)
class InternalDelivery:
    """One matched event for an internal target (router.delivery.sink builds it; no I/O may follow from it)."""

    bus: str
    rule: str
    target: Mapping[str, Any]
    """The target record as PutTargets stored it (its `Arn` names the kind and the name)."""
    name: str
    """The `<name>` part of the target's ARN (e.g. the discoverer or archive it feeds)."""
    event: bytes
    """The envelope JSON exactly as ingested."""
    keys: Keys
    entry_id: bytes = b""
    """The event's ingest stream entry id (`ms-seq`): unique per accepted event on its bus."""


Command = tuple[str | bytes | int, ...]
"""One Redis command `(name, key, args...)` staged with an event's ingest acknowledgement."""

InternalTarget = Callable[[InternalDelivery], Sequence[Command]]
"""An internal target kind's handler: the Redis commands (keys in the bus's slot) to commit with the ingest ack."""


@dataclass(frozen=True, slots=True)
class InternalBatch:
    """Every event of one routed batch that one internal target receives, in the batch's order (router.delivery.sink
    builds it once per batch and target; no I/O may follow from it)."""

    bus: str
    rule: str
    target: Mapping[str, Any]
    name: str
    """The `<name>` part of the target's ARN."""
    keys: Keys
    entry_ids: Sequence[bytes]
    """The events' ingest stream entry ids (`ms-seq`), one per event."""
    events: Sequence[bytes]
    """The envelopes exactly as ingested."""


@dataclass(frozen=True, slots=True)
class InternalBatchTarget:
    """An internal target kind handled per batch: `handler` returns, for each event of the `InternalBatch`, the
    commands to commit with that event's acknowledgement (one sequence per event, in order)."""

    handler: Callable[[InternalBatch], Sequence[Sequence[Command]]]


_INTERNAL = ":internal/"


def internal_target_arn(kind: str, name: str, region: str, account_id: str) -> str:
    """The ARN of an internal target: `arn:aws:events:<region>:<account>:internal/<kind>/<name>`."""
    return f"arn:aws:events:{region}:{account_id}{_INTERNAL}{kind}/{name}"


def internal_target_kind(arn: str) -> tuple[str, str] | None:
    """(kind, name) of an internal target ARN, else None (a real target)."""
    if not arn.startswith("arn:aws:events:") or _INTERNAL not in arn:
        return None
    kind, _, name = arn.split(_INTERNAL, 1)[1].partition("/")
    return (kind, name) if kind and name else None


@dataclass(frozen=True, slots=True)
class CliCommand:
    """A top-level `switchboard` subcommand contributed by an extension."""

    name: str
    add: Callable[[argparse._SubParsersAction[argparse.ArgumentParser], argparse.ArgumentParser], None]
    """Adds the command's parser: gets the subparsers object and the common parent parser (`--debug`)."""
    run: Callable[[argparse.Namespace], int]
    """Runs the parsed command; returns the exit code (raise `router.startup.StartupError` for an expected failure)."""


_log = logging.getLogger("switchboard.extensions")

EntryCheck = Callable[[Mapping[str, Any]], tuple[str, str] | None]
"""Checks one PutEvents entry: None accepts it, `(ErrorCode, ErrorMessage)` fails that entry alone."""

EntryCheckFactory = Callable[[AppState, str], Awaitable[EntryCheck | None]]
"""The check for one bus, or None when the bus has none (may read Redis; cached by `EntryCheckCache`)."""


def _cannot_check(entry: Mapping[str, Any]) -> tuple[str, str]:
    """The check of a bus whose checks could not be read: its entries fail with the retryable InternalFailure,
    as entries whose append failed do (router.api.put_events), and the next call reads the checks again."""
    return ("InternalFailure", "The event could not be stored. Retry the entry.")


class EntryCheckCache:
    """Every extension's entry checks, per bus, refreshed at most once per `ttl_s` (PutEvents' seam)."""

    def __init__(
        self, factories: Sequence[EntryCheckFactory], ttl_s: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.factories = list(factories)
        self.ttl_s = ttl_s
        self.clock = clock
        self._cache: dict[str, tuple[float, tuple[EntryCheck, ...]]] = {}
        self._reading: dict[str, asyncio.Future[tuple[EntryCheck, ...]]] = {}
        self.reads = 0
        """Reads of a bus's checks made so far (for tests)."""

    async def checks(self, state: AppState, bus: str) -> tuple[EntryCheck, ...]:
        now = self.clock()
        hit = self._cache.get(bus)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        reading = self._reading.get(bus)
        if reading is None:  # the first caller to find them expired reads them; the others wait for its answer
            reading = self._reading[bus] = asyncio.ensure_future(self._read(state, bus, now))
            reading.add_done_callback(lambda _: self._reading.pop(bus, None))
        return await asyncio.shield(reading)  # a cancelled caller does not cancel the read the others wait on

    async def _read(self, state: AppState, bus: str, now: float) -> tuple[EntryCheck, ...]:
        self.reads += 1
        found = []
        try:
            for factory in self.factories:
                check = await factory(state, bus)
                if check is not None:
                    found.append(check)
        except Exception as err:  # Redis unreachable (or a broken extension): the bus's entries fail, not the call
            _log.warning("entry checks of bus %s could not be read: %s", bus, type(err).__name__)
            return (_cannot_check,)
        if len(self._cache) >= 10_000:
            self._cache.clear()
        self._cache[bus] = (now, tuple(found))
        return self._cache[bus][1]

    async def check(self, state: AppState, bus: str, entry: Mapping[str, Any]) -> tuple[str, str] | None:
        """The first failure of `entry` on `bus` (None: accepted)."""
        for check in await self.checks(state, bus):
            failure = check(entry)
            if failure is not None:
                return failure
        return None


class ExtensionError(Exception):
    """An extension cannot be loaded or clashes with another one (a start-up error)."""


@dataclass(frozen=True, slots=True)
class Extension:
    name: str
    operations: Mapping[str, Handler] = field(default_factory=dict)
    """`events` API operation name -> handler (same contract as router/api's OPERATIONS)."""
    services: Sequence[Service] = ()
    routes: Sequence[BaseRoute] = ()
    ui_links: Sequence[UiLink] = ()
    """Entries of the `/ui/` navigation for the pages this extension serves."""
    internal_targets: Mapping[str, InternalTarget | InternalBatchTarget] = field(default_factory=dict)
    """Internal target kind -> handler (see the module's opening paragraph)."""
    entry_checks: Sequence[EntryCheckFactory] = ()
    """Per-bus PutEvents entry checks (see the module's opening paragraph)."""
    cli: Sequence[CliCommand] = ()
    """`switchboard` subcommands (see the module's opening paragraph)."""
    metrics: Sequence[MetricsSource] = ()
    """Families added to `/metrics` at every scrape (see the module's opening paragraph)."""
    startup: Sequence[Hook] = ()
    shutdown: Sequence[Hook] = ()


def installed(entry_points: Callable[[], Iterable[importlib.metadata.EntryPoint]] | None = None) -> list[Extension]:
    """Every extension registered under `switchboard.extensions`, in entry-point name order."""
    found = entry_points() if entry_points is not None else importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
    extensions: list[Extension] = []
    for entry in sorted(found, key=lambda e: e.name):
        try:
            factory = entry.load()
            extension = factory()
        except Exception as err:
            raise ExtensionError(f"extension {entry.name} ({entry.value}) could not be loaded: {err}") from err
        if not isinstance(extension, Extension):
            raise ExtensionError(f"extension {entry.name} ({entry.value}) did not return an Extension")
        extensions.append(extension)
    return extensions


def merge_operations(base: Mapping[str, Handler], extensions: Sequence[Extension]) -> dict[str, Handler]:
    """The router's handlers plus every extension's; an operation served twice is an `ExtensionError`."""
    merged = dict(base)
    owner = dict.fromkeys(base, "router")
    for extension in extensions:
        for name, handler in extension.operations.items():
            if name in merged:
                raise ExtensionError(f"operation {name} is served by both {owner[name]} and {extension.name}")
            merged[name] = handler
            owner[name] = extension.name
    return merged


def merge_internal_targets(extensions: Sequence[Extension]) -> dict[str, InternalTarget | InternalBatchTarget]:
    """Every extension's internal target kinds; a kind declared twice is an `ExtensionError`."""
    merged: dict[str, InternalTarget | InternalBatchTarget] = {}
    owner: dict[str, str] = {}
    for extension in extensions:
        for kind, handler in extension.internal_targets.items():
            if kind in merged:
                raise ExtensionError(
                    f"internal target kind {kind} is declared by both {owner[kind]} and {extension.name}"
                )
            merged[kind] = handler
            owner[kind] = extension.name
    return merged


def merge_cli(reserved: Iterable[str], extensions: Sequence[Extension]) -> dict[str, CliCommand]:
    """Every extension's CLI commands by name; one that clashes with `reserved` (the router's own) or with another
    extension's is an `ExtensionError`."""
    owner = dict.fromkeys(reserved, "router")
    merged: dict[str, CliCommand] = {}
    for extension in extensions:
        for command in extension.cli:
            if command.name in owner:
                raise ExtensionError(
                    f"command {command.name} is declared by both {owner[command.name]} and {extension.name}"
                )
            merged[command.name] = command
            owner[command.name] = extension.name
    return merged
