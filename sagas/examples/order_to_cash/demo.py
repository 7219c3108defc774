"""`switchboard demo order-to-cash --orders N --seed S [--faults RATE]`: the whole example, end to end, and its checks.

The demo starts (or uses) Redis, runs the router as a child process (`switchboard serve --config` with the example's
rules, `config/order-to-cash.yaml`), the four services as another child process (the example's worker without the
saga, as services run beside a saga in production), and the saga and the shop in this process; submits N orders
(at most `--in-flight` unfinished at a time), waits for every order's outcome, and prints one JSON object:

    {"orders": N, "seed": S, "faults": RATE, "final_states": {"COMPLETED": ..., ...},
     "checks": {"every_order_final": true, "net_charged_equals_completed_value": true,
                "no_order_charged_twice": true, "reserved_equals_shipped": true, "no_saga_stuck": true,
                "every_order_as_expected": true},
     "ok": true, "duration_s": ..., "sagas_per_s": ..., "latency_ms": {"p50": ..., "p99": ...}, "ledgers": {...}}

The checks, each computed from what the services' ledgers and the saga store hold (never from the plan alone):

- `every_order_final`: each order ended COMPLETED or COMPENSATED, or CANCELLED where its payment failed;
- `net_charged_equals_completed_value`: charged minus refunded equals the sum of the completed orders' amounts;
- `no_order_charged_twice`: no order has more than one real charge in the payment ledger;
- `reserved_equals_shipped`: units reserved minus released equal units shipped minus cancelled;
- `no_saga_stuck`: every instance is in a final state, no outbox holds a message, no saga timer is pending, and
  every saga and service queue is fully consumed (within `settle_s` of the last outcome: the dispatch that follows
  an order's final commit may still be cancelling its timers when the shop hears the outcome);
- `every_order_as_expected`: each order ended as its injected fault says it must (shop.FAULTS).

With `REDIS_URL` unset the demo runs a throw-away embedded redis-server in a temporary directory; with it set, it
uses that Redis (and `SWITCHBOARD_KEY_PREFIX`) and leaves the data there for `switchboard saga list` and the pages.
Exit code 0 when every check holds, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import orjson
import redis.asyncio as aioredis

from router.keys import Keys
from sagas.connect import connect
from sagas.consumer import ConsumerOptions
from sagas.examples.order_to_cash.definition import NAME, QUEUE, Timings, order_to_cash
from sagas.examples.order_to_cash.services import SERVICE_QUEUES, Services
from sagas.examples.order_to_cash.shop import OUTCOMES_QUEUE, Order, Shop, plan
from sagas.instance import CANCELLED, COMPENSATED, COMPLETED, FINAL_STATUSES, Instance
from sagas.keys import SagaKeys, instance_key
from sagas.machine import Definition
from sagas.publish import PutEventsPublisher
from sagas.runtime import RuntimeOptions, SagaRuntime

__all__ = [
    "CONFIG_DIR",
    "DEMO_TIMINGS",
    "NAME",
    "DemoOptions",
    "Example",
    "check",
    "main",
    "queues_drained",
    "router_process",
    "run_demo",
    "settled_check",
]

CONFIG_DIR = Path(__file__).parent / "config"

DEMO_TIMINGS = Timings(
    reply_timeout_s=10.0,
    approval_timeout_s=5.0,
    shipping_retry_interval_s=0.2,
    shipping_backoff_rate=2.0,
    shipping_max_interval_s=1.0,
    shipping_window_s=10.0,
    compensation_retry_interval_s=0.2,
    compensation_max_attempts=5,
)
"""Seconds where production would wait hours: what the demo and the tests run. The shipping window and the reply
timeout leave room for a loaded machine: a flaky carrier's third attempt, or an answer, may take seconds to come
back when thousands of orders are in flight."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    orders: int = 100
    seed: int = 1
    faults: float = 0.0
    in_flight: int = 100
    timeout_s: float = 900.0
    timings: Timings = DEMO_TIMINGS
    consumer: ConsumerOptions = field(default_factory=lambda: ConsumerOptions(claim_idle_s=10.0))
    timer_poll_interval_s: float = 0.5
    settle_s: float = 10.0
    """After the last outcome: how long the dispatches still under way may take before a saga counts as stuck."""
    services_process: bool = True
    """Run the four services in a child process of their own (`python -m sagas.examples.order_to_cash worker
    --no-saga`), beside the saga's process as services run in production; False runs them in this process."""


def runtime_options(options: DemoOptions) -> RuntimeOptions:
    return RuntimeOptions(consumer=options.consumer, timer_poll_interval_s=options.timer_poll_interval_s)


class Example:
    """The saga, the services and the shop in this process, against a router at `endpoint` and `redis`."""

    def __init__(
        self,
        redis: aioredis.Redis,
        endpoint: str,
        *,
        prefix: str = "sb",
        options: DemoOptions = DemoOptions(),
        saga: bool = True,
        services: bool = True,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.options = options
        self.definition: Definition = order_to_cash(options.timings)
        self.publisher = PutEventsPublisher(endpoint)
        self.runtime = SagaRuntime(
            redis, [self.definition], self.publisher, prefix=prefix, options=runtime_options(options)
        )
        batch = self.runtime.batch  # one process: its saga, services and shop share round trips to Redis
        self.services = Services(redis, self.publisher, prefix=prefix, options=options.consumer, batch=batch)
        self.shop = Shop(redis, self.publisher, prefix=prefix, options=options.consumer, batch=batch)
        self._run_saga = saga
        self._run_services = services

    async def start(self) -> None:
        await self.shop.start()
        if self._run_services:
            await self.services.start()
        if self._run_saga:
            await self.runtime.start()
        else:
            await self.runtime.register()

    async def stop(self) -> None:
        if self._run_saga:
            await self.runtime.stop()
        if self._run_services:
            await self.services.stop()
        await self.shop.stop()
        await self.publisher.aclose()

    async def __aenter__(self) -> Example:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def run(self, orders: Sequence[Order]) -> dict[str, Any]:
        started = time.monotonic()
        finished = await self.shop.run(orders, in_flight=self.options.in_flight, timeout_s=self.options.timeout_s)
        duration = time.monotonic() - started
        summary = await settled_check(
            self.redis, self.prefix, self.definition, orders, self.services, settle_s=self.options.settle_s
        )
        latencies = self.shop.latencies_ms(orders)
        summary.update(
            all_outcomes_received=finished,
            duration_s=round(duration, 2),
            sagas_per_s=round(len(orders) / duration, 1) if duration > 0 else None,
            latency_ms=_percentiles(latencies),
        )
        return summary


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}

    def at(q: float) -> float:
        return round(values[min(len(values) - 1, int(q * len(values)))], 1)

    return {"p50": at(0.50), "p99": at(0.99), "max": round(values[-1], 1)}


async def queues_drained(redis: aioredis.Redis, prefix: str) -> bool:
    """Every message of the saga's, the services' and the outcomes' queues is consumed and acknowledged."""
    keys = Keys(prefix)
    queues = [QUEUE, OUTCOMES_QUEUE, *SERVICE_QUEUES.values()]
    for queue in queues:
        stream = keys.queue(queue)
        try:
            groups = await redis.xinfo_groups(stream)
        except aioredis.ResponseError:
            continue
        for group in groups:
            lag = group.get("lag")
            if int(group.get("pending", 0)) or (lag is not None and int(lag)):
                return False
    return True


async def check(
    redis: aioredis.Redis, prefix: str, definition: Definition, orders: Sequence[Order], services: Services
) -> dict[str, Any]:
    """The summary's counts and checks, from the saga store and the services' ledgers."""
    keys = SagaKeys(prefix)
    instances: dict[str, Instance | None] = {}
    outboxes = 0
    for start in range(0, len(orders), 500):
        chunk = orders[start : start + 500]
        async with redis.pipeline(transaction=False) as pipe:
            for order in chunk:
                pipe.hget(keys.state(definition.name, instance_key(order.id)), "doc")
                pipe.hlen(keys.outbox(definition.name, instance_key(order.id)))
            results = await pipe.execute()
        for i, order in enumerate(chunk):
            raw, pending = results[2 * i], results[2 * i + 1]
            instances[order.id] = Instance.loads(raw) if raw is not None else None
            outboxes += int(pending)
    final_states: dict[str, int] = {}
    for instance in instances.values():
        status = instance.status if instance is not None else "MISSING"
        final_states[status] = final_states.get(status, 0) + 1

    def final_ok(order: Order) -> bool:
        instance = instances[order.id]
        if instance is None:
            return False
        if instance.status in (COMPLETED, COMPENSATED):
            return True
        return instance.status == CANCELLED and instance.steps.get("payment", {}).get("status") == "failed"

    ledgers = await services.ledgers()
    ended = {order_id: (i.status if i is not None else None) for order_id, i in instances.items()}
    completed_value = sum(o.amount for o in orders if ended[o.id] == COMPLETED)
    timers = 0
    for shard in range(definition.shards):
        timers += await redis.zcard(Keys(prefix).timers(SagaKeys.timer_owner(definition.name, shard)))
    all_final = all(i is not None and i.status in FINAL_STATUSES for i in instances.values())
    drained = await queues_drained(redis, prefix)
    checks = {
        "every_order_final": all(final_ok(o) for o in orders),
        "net_charged_equals_completed_value": ledgers.charged - ledgers.refunded == completed_value,
        "no_order_charged_twice": ledgers.max_charges_per_order <= 1,
        "reserved_equals_shipped": ledgers.reserved - ledgers.released == ledgers.shipped - ledgers.cancelled,
        "no_saga_stuck": all_final and outboxes == 0 and timers == 0 and drained,
        "every_order_as_expected": all(ended[o.id] == o.expected for o in orders),
    }
    unexpected = [
        {"order": o.id, "fault": o.fault, "expected": o.expected, "got": ended[o.id]}
        for o in orders
        if ended[o.id] != o.expected
    ]
    missing = [o.id for o in orders if instances[o.id] is None]
    faults: dict[str, int] = {}
    for order in orders:
        faults[order.fault or "none"] = faults.get(order.fault or "none", 0) + 1
    return {
        "orders": len(orders),
        "final_states": dict(sorted(final_states.items())),
        "faults_injected": dict(sorted(faults.items())),
        "checks": checks,
        "ok": all(checks.values()),
        "ledgers": {**asdict(ledgers), "completed_value": completed_value},
        "pending": {"outbox_messages": outboxes, "timers": timers, "queues_drained": drained},
        "unexpected": unexpected[:20],
        "missing": await _missing(redis, prefix, definition, missing[:20]) if missing else [],
    }


async def _missing(
    redis: aioredis.Redis, prefix: str, definition: Definition, order_ids: Sequence[str]
) -> list[dict[str, Any]]:
    """Where an order without a saga instance went: was its OrderSubmitted rejected by the saga (and why), is it
    still in the saga's queue (unread or pending), or is it nowhere (never delivered to the saga)."""
    wanted = {order_id.encode(): order_id for order_id in order_ids}
    found: dict[str, dict[str, Any]] = {o: {"order": o, "rejected": None, "in_saga_queue": False} for o in order_ids}

    def orders_in(body: bytes) -> list[str]:
        return [order_id for raw, order_id in wanted.items() if b'"' + raw + b'"' in body]

    rejected: Any = await redis.xrange(SagaKeys(prefix).rejected(definition.name))
    for _, fields in rejected:
        for order_id in orders_in(fields.get(b"body", b"")):
            found[order_id]["rejected"] = fields.get(b"reason", b"").decode(errors="replace")
    queued: Any = await redis.xrange(Keys(prefix).queue(definition.queue))
    for _, fields in queued:
        for order_id in orders_in(fields.get(b"body", b"")):
            found[order_id]["in_saga_queue"] = True
    return list(found.values())


async def settled_check(
    redis: aioredis.Redis,
    prefix: str,
    definition: Definition,
    orders: Sequence[Order],
    services: Services,
    *,
    settle_s: float,
) -> dict[str, Any]:
    """`check`, repeated for up to `settle_s` until nothing is pending: the last outcomes are out, but their
    outboxes' last timer cancellations may still be on the way."""
    settle_until = time.monotonic() + settle_s
    while True:
        summary = await check(redis, prefix, definition, orders, services)
        if summary["checks"]["no_saga_stuck"] or time.monotonic() >= settle_until:
            return summary
        await asyncio.sleep(0.1)


# running the router ---------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def router_process(
    redis_url: str, data_dir: Path, *, prefix: str = "sb", env: dict[str, str] | None = None
) -> Iterator[str]:
    """`switchboard serve` with the example's rules as a child process; yields its URL, stops it after."""
    port = _free_port()
    child_env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "SWITCHBOARD_KEY_PREFIX": prefix,
        "SWITCHBOARD_DATA_DIR": str(data_dir),
        **(env or {}),
    }
    log_path = data_dir / f"router-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "router.cli",
                "serve",
                "--port",
                str(port),
                "--config",
                str(CONFIG_DIR),
                "--log-level",
                "warning",
            ],
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            with httpx.Client(timeout=1, verify=False) as probe:  # one client: each new one loads the CA store
                while True:
                    if proc.poll() is not None:
                        raise RuntimeError(f"the router exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
                    try:
                        if probe.get(f"{url}/health").status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the router did not start: {log_path.read_text()[-2000:]}")
                    time.sleep(0.05)
            yield url
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, up to 20 s for a clean stop, then SIGKILL."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.asynccontextmanager
async def _redis(url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(url)
    try:
        yield client
    finally:
        await client.aclose()


@contextlib.contextmanager
def services_process(
    redis_url: str, endpoint: str, data_dir: Path, *, prefix: str, claim_idle_s: float
) -> Iterator[None]:
    """The example's services in a child process (the example's worker without the saga) until the block ends."""
    log_path = data_dir / "services.log"
    command = [sys.executable, "-m", "sagas.examples.order_to_cash", "worker", "--no-saga"]
    command += [
        "--redis-url",
        redis_url,
        "--endpoint",
        endpoint,
        "--prefix",
        prefix,
        "--claim-idle-s",
        str(claim_idle_s),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while b"ready" not in log_path.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the services did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.05)
            yield
        finally:
            _stop(proc)


async def _run(redis_url: str, endpoint: str, prefix: str, options: DemoOptions) -> dict[str, Any]:
    orders = plan(options.orders, options.seed, options.faults, approval_threshold=options.timings.approval_threshold)
    here = not options.services_process
    async with (
        _redis(redis_url) as redis,
        Example(redis, endpoint, prefix=prefix, options=options, services=here) as example,
    ):
        summary = await example.run(orders)
    return {"seed": options.seed, "faults": options.faults, **summary}


def run_demo(options: DemoOptions, redis_url: str | None, *, prefix: str = "sb") -> dict[str, Any]:
    """Run the demo (embedded Redis when `redis_url` is None); returns the summary."""
    from router.embedded_redis import EmbeddedRedis

    with tempfile.TemporaryDirectory(prefix="switchboard-demo-") as tmp:
        data_dir = Path(tmp)
        embedded = None
        try:
            if redis_url is None:
                embedded = EmbeddedRedis(data_dir / "redis", appendfsync="everysec")
                redis_url = embedded.start()
            with contextlib.ExitStack() as running:
                endpoint = running.enter_context(router_process(redis_url, data_dir, prefix=prefix))
                if options.services_process:
                    claim_idle_s = options.consumer.claim_idle_s
                    running.enter_context(
                        services_process(redis_url, endpoint, data_dir, prefix=prefix, claim_idle_s=claim_idle_s)
                    )
                return asyncio.run(_run(redis_url, endpoint, prefix, options))
        finally:
            if embedded is not None:
                embedded.stop()


def main(args: Any) -> int:
    """The `switchboard demo order-to-cash` command (router.cli through sagas.cli, sagas.extension)."""
    from router.outbound import quiet_http_loggers
    from router.settings import Settings

    quiet_http_loggers()
    settings = Settings.from_env()
    options = replace(DemoOptions(), orders=args.orders, seed=args.seed, faults=args.faults, in_flight=args.in_flight)
    summary = run_demo(options, settings.redis_url, prefix=settings.key_prefix)
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0 if summary["ok"] else 1
