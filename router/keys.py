"""The whole Redis key layout, in one place.

Every key the router reads or writes is built here, so the layout can be reviewed (and documented for consumers in
other languages) at a glance. Keys that one operation touches together share a Redis Cluster hash tag, so each
state change is a single-slot MULTI or Lua script and the layout runs unchanged on Redis Cluster.

**Bus partitions.** A bus's keys do not carry the bus name in their hash tag: they carry the bus's *partition*,
`{b:N}` with `N = crc32(UTF-8 bus name) mod BUS_PARTITIONS` (zlib's CRC-32, as in `zlib.crc32`, so any language
computes it). `BUS_PARTITIONS` is 64 and fixed forever (changing it would move every bus's keys). So all the buses of
one partition share one hash slot, and a router process reads every ingest stream (and every delivery lane) of a
partition with one blocking `XREADGROUP` over many streams: its Redis connections are bounded by the partition count
(two blocking readers per partition it serves, see router.stream_reader) plus its command pool, whatever the number of
buses, rules and targets. Every per-bus script stays single-slot, and 1,000 buses still spread over up to 64 slots
(so over up to 64 masters of a cluster).

**`Keys.bus_tag(bus)` is THE way to put a key in a bus's slot**: it is the prefix `sb:{b:N}:bus:NAME` of every key
of that bus, and other packages (archives, schema discovery, schedules) build their per-bus keys as
`f"{keys.bus_tag(bus)}:<what>"`, which puts them in the same slot as the bus's ingest stream and rules.

**Namespaces (accounts and regions, router.namespace).** A resource of the events API is keyed by its *key-layout
name*, `Keys.scoped(name, namespace)`: its bare name in the home namespace (the settings' account and region, so
data written before namespaces existed stays valid and unchanged), `ACCOUNT@REGION@NAME` in any other (`@` is in no
bus, rule, connection or API destination name). Everything below that says bus B, connection name or API destination
D means that name: `sb:{b:N}:bus:111122223333@us-west-1@orders:rules`, with N computed from the whole key-layout
name, so each bus keeps one hash tag and the layout stays cluster-ready. The registries (`sb:{meta}:buses`,
connections, API destinations) hold every namespace's records, field = key-layout name; List operations and quotas
take only the caller's namespace's fields. Workers read the registry, so they serve every namespace's buses alike.

- `{prefix}:{meta}:...`: account-wide records: the bus registry and account-level counters.
- `{prefix}:{b:N}:bus:NAME:...`: everything that belongs to one event bus NAME (in partition N): its rules, their
  targets, a change counter, the ingest log and its counters, its delivery job streams. Bus names match
  `[/.\\-_A-Za-z0-9]+`, so they never contain `{`, `}` or `:`.
- `{prefix}:{b:N}:partition:...`: what the buses of partition N share (the delivery lanes set and the retry set),
  so one command per partition serves all of them.

| key | type | what |
|---|---|---|
| `sb:{meta}:buses` | hash | bus key-layout name (`B`, or `ACCOUNT@REGION@B`) -> bus record (JSON, see below) |
| `sb:{meta}:counters` | hash | account-wide metric counters (PutEvents*) |
| `sb:{meta}:connections` | hash | key-layout name -> connection record without secrets (JSON, router.connections) |
| `sb:{meta}:connection-secrets` | hash | connection key-layout name -> encrypted AuthParameters (router.connections) |
| `sb:{meta}:api-destinations` | hash | API destination key-layout name -> API destination record (JSON) |
| `sb:{meta}:event-sources` | hash | `REGION/NAME` -> partner event source record (JSON, router.store.event_sources) |
| `sb:{meta}:endpoints` | hash | global endpoint key-layout name -> endpoint record (JSON, router.store.endpoints) |
| `sb:{meta}:endpoint-ids` | hash | endpoint id (`abcde.veo`, unique across namespaces) -> its key-layout name |
| `sb:{meta}:health-checks` | hash | Route 53 health-check id -> `HEALTHY` or `UNHEALTHY` (`switchboard health-check`) |
| `sb:{meta}:config-owned` | set | config made: `bus:B`, `rule:B:R`, `target:B:R:ID`, `archive:A` (config.applier) |
| `sb:{meta}:functions` | hash | Lambda function name -> URL that function targets are POSTed to |
| `sb:{b:N}:bus:B:exists` | string | `1` while bus B exists: rule and target writes check it in the same script |
| `sb:{b:N}:bus:B:rules` | hash | rule name -> rule record (JSON, see below) |
| `sb:{b:N}:bus:B:targets:R` | hash | target id -> target record (JSON, the model's Target shape) for rule R |
| `sb:{b:N}:bus:B:version` | string (int) | incremented in the same transaction as every rule or target change |
| `sb:{b:N}:bus:B:rule-changes` | sorted set | rule name -> version of its last change (`""`: floor; router.matchers) |
| `sb:{b:N}:bus:B:ingest` | stream | accepted events: `event` = the envelope JSON, `hops` = bus targets passed |
| `sb:{b:N}:bus:B:ingest-parked` | stream | events the ingest worker could not route, to re-drive (router.ingest) |
| `sb:{b:N}:bus:B:counters` | hash | per-bus and per-rule metric counters (`Invocations:R`, ...) |
| `sb:{b:N}:bus:B:deliveries:R:T` | stream | delivery jobs for target T of rule R (fields: router.delivery.jobs) |
| `sb:{b:N}:partition:delivery-lanes` | set | the job stream keys of every bus of partition N |
| `sb:{b:N}:partition:delivery-retries` | sorted set | partition N's jobs waiting for a retry, scored by due epoch ms |
| `sb:{queue:Q}:messages` | stream | queue Q: messages delivered to `arn:aws:sqs:...:Q` (docs/queues.md) |
| `sb:{apidest:D}:rate:S` | string (int) | calls to API destination D in epoch second S (rate limit; expires) |

Queues are unchanged by the partitioning: each queue stream has its own tag `{queue:Q}` (so queues spread over a
cluster independently of buses), one entry per message with the fields router.delivery.queues documents.

Timers (router.timers) are a separate block: every timer belongs to an *owner*, and an owner's keys share one slot
(`Keys.owner_tag`), so a timer, its claim and the effects of firing it share one slot. Owners: `bus:B` (the
scheduled rules of bus B: their keys are under the bus's own prefix, `sb:{b:N}:bus:B:timers`, so a tick's ingest
append commits with the timer), `schedule-group:G` (EventBridge Scheduler, tag `{schedule-group:G}`), and later
`saga:...` (tag `{saga:...}`). Owner names never contain `{` or `}`.

| key | type | what |
|---|---|---|
| `sb:{meta}:timer-owners` | set | owners that have (or had) timers; the timer runner polls each |
| `OWNER-TAG:timers` | sorted set | timer key -> due time (epoch ms); a claimed timer is re-scored to its lease end |
| `OWNER-TAG:timer-payloads` | hash | timer key -> payload (opaque bytes, the handler's) |
| `OWNER-TAG:timer-claims` | hash | timer key -> `token|first due ms|attempt` while a process holds it |
| `sb:{meta}:clock` | string (int) | a shared test clock (epoch ms), read only when settings `timer_clock` is `redis` |

EventBridge Scheduler (router.schedules.scheduler) is another separate block. A schedule group G keeps its schedules
in its own slot, shared with its timers (owner `schedule-group:G`); its delivery jobs live in a *delivery owner*,
`~scheduler~G`, a bus-shaped key space (`Keys.bus_tag("~scheduler~G")`: `sb:{b:N}:bus:~scheduler~G:deliveries:...`,
`...:counters`; its lanes and retries in its partition's sets) that no bus can have (`~` is not allowed in bus
names), so the delivery workers serve it with the same code as a bus's.

| key | type | what |
|---|---|---|
| `sb:{meta}:schedule-groups` | hash | group key-layout name -> group record (JSON: `Name`, `Arn`, `State`, dates) |
| `sb:{schedule-group:G}:schedules` | hash | schedule name -> schedule record (JSON, the CreateSchedule members) |
| `sb:{meta}:delivery-owners` | set | delivery owners that are not buses (`~scheduler~G`), served like buses |
| `sb:{b:N}:bus:~scheduler~G:invocations:ID` | string | set (NX, 2 days) with a tick's job: a re-fired tick adds none |

The ingest stream is read through the consumer group `INGEST_GROUP`, delivery job streams through
`DELIVERY_GROUP`.

SQS API state (router.sqs, docs/queues.md). The messages stay the queue's stream above; what SQS adds lives beside
it in the queue's own slot `{queue:Q}`, so every SQS operation on one queue is one single-slot script. Only the
queue list is account-wide:

| key | type | what |
|---|---|---|
| `sb:{meta}:queues` | sorted set | every queue name, score 0 (ListQueues pages it with ZRANGEBYLEX) |
| `sb:{queue:Q}:attributes` | hash | SQS attribute name -> value as SQS writes it (`VisibilityTimeout` = `30`, ...) |
| `sb:{queue:Q}:tags` | hash | queue tag key -> value |
| `sb:{queue:Q}:sqs` | hash | `cursor`: the last stream entry id SQS has read; `purged_ms`: the last PurgeQueue |
| `sb:{queue:Q}:invisible` | sorted set | received messages (entry ids), scored by when they become visible again (ms) |
| `sb:{queue:Q}:delayed` | sorted set | messages not yet received and delayed (DelaySeconds), scored by due time |
| `sb:{queue:Q}:receipts` | hash | entry id -> `count first-receive-ms token group` of a received message |
| `sb:{queue:Q}:fifo` | sorted set | FIFO: pending messages as `group NUL padded-entry-id` (lexicographic) |
| `sb:{queue:Q}:fifo-ready` | sorted set | FIFO: groups with messages, none in flight; scored by oldest (ms) |
| `sb:{queue:Q}:fifo-inflight` | hash | FIFO: group -> its messages in flight or delayed (the group lock) |
| `sb:{queue:Q}:dedup` | hash | FIFO: deduplication id -> `message-id entry-id expiry-ms` (5 minutes) |
| `sb:{queue:Q}:dedup-expiry` | sorted set | FIFO: deduplication ids scored by expiry (ms), for pruning |

Record formats (JSON objects; absent optional fields are stored as `null` or left out, readers accept both):

- bus record: `Name`, `Arn`, `Description`, `KmsKeyIdentifier`, `DeadLetterConfig`, `LogConfig`, `CreationTime` and
  `LastModifiedTime` (epoch seconds, float), `Tags` (list of `{Key, Value}`).
- rule record: `Name`, `Arn`, `EventBusName`, `EventPattern` (the pattern text exactly as the client sent it, or
  null for a schedule-only rule), `ScheduleExpression`, `State` (`ENABLED`, `DISABLED` or
  `ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS`), `Description`, `RoleArn`, `ManagedBy` (null unless another
  service manages the rule), `CreatedBy` (account id), `Tags` (list of `{Key, Value}`). Only `ENABLED*` rules
  match events.
- target record: the Target exactly as PutTargets received it (`Id`, `Arn`, `Input`, `InputTransformer`, ...).

The bus registry lives in the `{meta}` slot and a bus's rules in its partition's slot, so bus-level changes are two
single-slot steps: CreateEventBus sets the `exists` marker, then adds the registry entry; DeleteEventBus removes
the marker (in one script with its "no rules left" check), then the registry entry. Rule and target writes check
the marker in their own script, so no rule can be written to a bus that is being deleted.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Self

from router.namespace import DEFAULT, Namespace, parse_bus_arn, valid_account, valid_region

INGEST_GROUP = "router"
"""Consumer group through which router processes share a bus's ingest log."""

DELIVERY_GROUP = "delivery"
"""Consumer group through which router processes share a bus's delivery jobs."""

BUS_PARTITIONS = 64
"""How many bus partitions (hash tags `{b:0}` ... `{b:63}`) there are. Fixed forever: see the module docstring."""


OWNER_MARK = "~"
"""The first character of a delivery owner that is not a bus (EventBridge Scheduler's `~scheduler~G`): no bus name
can have it."""


def is_bus(owner: str) -> bool:
    """Whether a delivery owner (a bus-shaped key space, its key-layout name) is a bus, whose rules' account its
    deliveries act as; False for the owners that are not buses (`~scheduler~G`, acting with a schedule's role)."""
    return not owner.startswith(OWNER_MARK)


class UnreadableName(ValueError):
    """A name `Keys.unscoped` cannot read as a key-layout name, so it names no namespace: a delivery owner that is not
    a bus (`~scheduler~G`), or a name with `@` that is not `ACCOUNT@REGION@NAME`."""


def bus_partition(bus: str) -> int:
    """The partition of bus `bus`: `crc32(UTF-8 name) mod BUS_PARTITIONS` (stable across versions and languages)."""
    return zlib.crc32(bus.encode()) % BUS_PARTITIONS


@dataclass(frozen=True, slots=True)
class Keys:
    """Key builder bound to a prefix (default `sb`; tests and side-by-side deployments can pick another) and to the
    home namespace (the settings' account and region), whose resources keep their bare names."""

    prefix: str = "sb"
    home: Namespace = DEFAULT

    # namespaces: the key-layout name of a namespaced resource -----------------------------------------------
    def scoped(self, name: str, namespace: Namespace | None = None) -> str:
        """The key-layout name of resource `name` of `namespace`: `name` itself in the home namespace (or when
        None), else `ACCOUNT@REGION@name`. Every key of a bus, and every registry field, is built from it."""
        if namespace is None or namespace == self.home:
            return name
        return f"{namespace.account_id}@{namespace.region}@{name}"

    def unscoped(self, scoped: str) -> tuple[Namespace, str]:
        """(namespace, name) of a key-layout name made by `scoped` (a bare name is the home namespace's). Strict:
        anything `scoped` cannot have made raises `UnreadableName` (a delivery owner that is not a bus, `is_bus`;
        `@` without a 12-digit account, a region name and a non-empty name with no `@` after them), rather than
        guessing the home namespace for it (a Scheduler owner read that way was once authorized as the home
        account's). Callers with a delivery owner ask `is_bus` first."""
        if not is_bus(scoped):
            raise UnreadableName(f"{scoped!r} is a delivery owner that is not a bus: it has no key-layout name")
        account, sep, rest = scoped.partition("@")
        if not sep:
            return self.home, scoped
        region, sep, name = rest.partition("@")
        if not sep or not valid_account(account) or not valid_region(region) or not name or "@" in name:
            raise UnreadableName(f"{scoped!r} is not a key-layout name (NAME, or ACCOUNT@REGION@NAME)")
        return Namespace(account, region), name

    def bus_of_arn(self, arn: str) -> str | None:
        """The key-layout name of the bus an event bus ARN of any account and region names (None: no bus ARN)."""
        parsed = parse_bus_arn(arn)
        return None if parsed is None else self.scoped(parsed.name, parsed.namespace)

    def rule_arn(self, bus: str, rule: str) -> str:
        """The ARN of rule `rule` of the bus whose key-layout name is `bus` (in the bus's namespace)."""
        namespace, name = self.unscoped(bus)
        return namespace.arns.rule(name, rule)

    def in_namespace(self, scoped: str, namespace: Namespace) -> str | None:
        """The name of `scoped` when it belongs to `namespace`, else None (registries are filtered with it). A
        field no key-layout name can be (`UnreadableName`) belongs to no namespace: None for every one."""
        try:
            owner, name = self.unscoped(scoped)
        except UnreadableName:
            return None
        return name if owner == namespace else None

    # account-wide ----------------------------------------------------------------------------------------
    @property
    def buses(self) -> str:
        return f"{self.prefix}:{{meta}}:buses"

    @property
    def account_counters(self) -> str:
        return f"{self.prefix}:{{meta}}:counters"

    @property
    def connections(self) -> str:
        return f"{self.prefix}:{{meta}}:connections"

    @property
    def connection_secrets(self) -> str:
        return f"{self.prefix}:{{meta}}:connection-secrets"

    @property
    def api_destinations(self) -> str:
        return f"{self.prefix}:{{meta}}:api-destinations"

    @property
    def event_sources(self) -> str:
        """Partner event sources of every region and account (router.store.event_sources): field `REGION/NAME`."""
        return f"{self.prefix}:{{meta}}:event-sources"

    @property
    def endpoints(self) -> str:
        """Global endpoints (router.store.endpoints): name -> record; one slot with their ids and health checks."""
        return f"{self.prefix}:{{meta}}:endpoints"

    @property
    def endpoint_ids(self) -> str:
        return f"{self.prefix}:{{meta}}:endpoint-ids"

    @property
    def health_checks(self) -> str:
        """Route 53 health checks' status as set with `switchboard health-check` (absent: healthy)."""
        return f"{self.prefix}:{{meta}}:health-checks"

    @property
    def config_owned(self) -> str:
        """The resources config files created, so re-applying can remove what the files no longer declare."""
        return f"{self.prefix}:{{meta}}:config-owned"

    # per bus ---------------------------------------------------------------------------------------------
    def partition_tag(self, partition: int) -> str:
        """The prefix, with the hash tag, of partition `partition`'s keys: `sb:{b:N}`."""
        return f"{self.prefix}:{{b:{partition}}}"

    def bus_tag(self, bus: str) -> str:
        """The prefix of every key of bus `bus`, `sb:{b:N}:bus:NAME`, in the bus's hash slot (see the module doc)."""
        return f"{self.prefix}:{{b:{bus_partition(bus)}}}:bus:{bus}"

    def bus_exists(self, bus: str) -> str:
        return f"{self.bus_tag(bus)}:exists"

    def rules(self, bus: str) -> str:
        return f"{self.bus_tag(bus)}:rules"

    def targets(self, bus: str, rule: str) -> str:
        return f"{self.bus_tag(bus)}:targets:{rule}"

    def version(self, bus: str) -> str:
        return f"{self.bus_tag(bus)}:version"

    def rule_changes(self, bus: str) -> str:
        return f"{self.bus_tag(bus)}:rule-changes"

    def ingest(self, bus: str) -> str:
        return f"{self.bus_tag(bus)}:ingest"

    def ingest_parked(self, bus: str) -> str:
        """Events the ingest worker could not route (router.ingest), kept for an operator to re-drive."""
        return f"{self.bus_tag(bus)}:ingest-parked"

    def bus_counters(self, bus: str) -> str:
        return f"{self.bus_tag(bus)}:counters"

    def deliveries(self, bus: str, rule: str, target_id: str) -> str:
        """One target's job stream. Rule names and target ids match `[.\\-_A-Za-z0-9]+`: no `:` in either."""
        return f"{self.bus_tag(bus)}:deliveries:{rule}:{target_id}"

    def parse_deliveries(self, stream: str) -> tuple[str, str, str] | None:
        """(bus, rule, target id) of a job stream key made by `deliveries`; None for any other key."""
        head, sep, rest = stream.partition("}:bus:")
        if not sep or not head.startswith(f"{self.prefix}:{{b:"):
            return None
        bus, sep, rest = rest.partition(":deliveries:")
        rule, _, target_id = rest.partition(":")
        if not sep or not rule or not target_id or self.deliveries(bus, rule, target_id) != stream:
            return None
        return bus, rule, target_id

    def partition_lanes(self, partition: int) -> str:
        """The job stream keys of every bus of the partition (delivery workers read them)."""
        return f"{self.partition_tag(partition)}:partition:delivery-lanes"

    def partition_retries(self, partition: int) -> str:
        """Jobs of the partition's buses waiting for a retry, scored by due time (epoch ms)."""
        return f"{self.partition_tag(partition)}:partition:delivery-retries"

    def delivery_lanes(self, bus: str) -> str:
        """The lanes set that holds bus `bus`'s job streams (its partition's)."""
        return self.partition_lanes(bus_partition(bus))

    def delivery_retries(self, bus: str) -> str:
        """The retry set that holds bus `bus`'s retries (its partition's)."""
        return self.partition_retries(bus_partition(bus))

    # delivery targets ----------------------------------------------------------------------------------------
    @property
    def functions(self) -> str:
        """Lambda function name -> the URL its invocations are POSTed to (config `functions:` or tests)."""
        return f"{self.prefix}:{{meta}}:functions"

    def queue(self, name: str) -> str:
        """A queue target's stream; its own hash tag, so queues spread over a cluster."""
        return f"{self.prefix}:{{queue:{name}}}:messages"

    # SQS API state (router.sqs) --------------------------------------------------------------------------------
    @property
    def queues(self) -> str:
        """Every queue name (created with CreateQueue, or on first delivery), for ListQueues."""
        return f"{self.prefix}:{{meta}}:queues"

    def queue_tag(self, name: str) -> str:
        return f"{self.prefix}:{{queue:{name}}}"

    def queue_attributes(self, name: str) -> str:
        return f"{self.queue_tag(name)}:attributes"

    def queue_tags(self, name: str) -> str:
        return f"{self.queue_tag(name)}:tags"

    def queue_state(self, name: str) -> str:
        return f"{self.queue_tag(name)}:sqs"

    def queue_invisible(self, name: str) -> str:
        return f"{self.queue_tag(name)}:invisible"

    def queue_delayed(self, name: str) -> str:
        return f"{self.queue_tag(name)}:delayed"

    def queue_receipts(self, name: str) -> str:
        return f"{self.queue_tag(name)}:receipts"

    def queue_fifo(self, name: str) -> str:
        return f"{self.queue_tag(name)}:fifo"

    def queue_fifo_ready(self, name: str) -> str:
        return f"{self.queue_tag(name)}:fifo-ready"

    def queue_fifo_inflight(self, name: str) -> str:
        return f"{self.queue_tag(name)}:fifo-inflight"

    def queue_dedup(self, name: str) -> str:
        return f"{self.queue_tag(name)}:dedup"

    def queue_dedup_expiry(self, name: str) -> str:
        return f"{self.queue_tag(name)}:dedup-expiry"

    def queue_sqs_keys(self, name: str) -> list[str]:
        """Every key of queue `name` in the order router.sqs scripts take them (the stream first)."""
        return [
            self.queue(name),
            self.queue_attributes(name),
            self.queue_state(name),
            self.queue_invisible(name),
            self.queue_delayed(name),
            self.queue_receipts(name),
            self.queue_fifo(name),
            self.queue_fifo_ready(name),
            self.queue_fifo_inflight(name),
            self.queue_dedup(name),
            self.queue_dedup_expiry(name),
            self.queue_tags(name),
        ]

    def api_destination_rate(self, name: str, epoch_s: int) -> str:
        return f"{self.prefix}:{{apidest:{name}}}:rate:{epoch_s}"

    # timers (router.timers): an owner's keys share one slot ---------------------------------------------------
    @property
    def timer_owners(self) -> str:
        return f"{self.prefix}:{{meta}}:timer-owners"

    def owner_tag(self, owner: str) -> str:
        """The prefix of a timer owner's keys: a bus's own prefix for `bus:B`, else `sb:{OWNER}`."""
        kind, sep, name = owner.partition(":")
        if sep and kind == "bus":
            return self.bus_tag(name)
        return f"{self.prefix}:{{{owner}}}"

    def timers(self, owner: str) -> str:
        return f"{self.owner_tag(owner)}:timers"

    def timer_payloads(self, owner: str) -> str:
        return f"{self.owner_tag(owner)}:timer-payloads"

    def timer_claims(self, owner: str) -> str:
        return f"{self.owner_tag(owner)}:timer-claims"

    @property
    def test_clock(self) -> str:
        return f"{self.prefix}:{{meta}}:clock"

    # EventBridge Scheduler (router.schedules.scheduler) ----------------------------------------------------------
    @property
    def schedule_groups(self) -> str:
        return f"{self.prefix}:{{meta}}:schedule-groups"

    def schedules(self, group: str) -> str:
        return f"{self.prefix}:{{schedule-group:{group}}}:schedules"

    @property
    def delivery_owners(self) -> str:
        """Delivery owners that are not buses (`~scheduler~G`): delivery workers discover them with the buses."""
        return f"{self.prefix}:{{meta}}:delivery-owners"

    def scheduler_invocation(self, owner: str, invocation_id: str) -> str:
        return f"{self.bus_tag(owner)}:invocations:{invocation_id}"

    def bus_pattern(self, bus: str) -> str:
        """A SCAN/KEYS match pattern for every key of one bus (`{` and `}` escaped for glob)."""
        return f"{self.prefix}:\\{{b:{bus_partition(bus)}\\}}:bus:{bus}:*"


@dataclass(frozen=True, slots=True)
class KeySpace:
    """The base of another package's key builder (sagas.keys, schemas.keys): its keys sit beside the router's under
    the same prefix, and each is built by `tagged`, so every key names its hash slot the same way. The package's
    own layout (which tags, which keys, the table documenting them) stays in its keys module."""

    prefix: str = "sb"

    @classmethod
    def of(cls, keys: Keys) -> Self:
        """The builder bound to the router's prefix."""
        return cls(keys.prefix)

    def tagged(self, tag: str, *parts: str) -> str:
        """`PREFIX:{TAG}` followed by `:PART` for each part: a key in `tag`'s hash slot (`tag` has no `{` or `}`)."""
        return ":".join((f"{self.prefix}:{{{tag}}}", *parts))
