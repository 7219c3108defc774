"""The saga runtime on a real redis-server: what a commit leaves in Redis, duplicates and replays, optimistic
concurrency between processes, timers, the outbox under failures, queue consumption and rejections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from router.keys import Keys
from router.timers import ManualClock
from sagas import COMPLETED, FAILED, Instance, SagaError
from sagas.connect import connect
from sagas.consumer import ConsumerOptions
from sagas.keys import SagaKeys, shard_of
from sagas.runtime import RuntimeHooks, RuntimeOptions, SagaRuntime, control_message
from tests.conftest import all_keys
from tests.sagas._support import RecordingPublisher, counter_machine, enqueue, event
from tests.waiting import eventually

pytestmark = pytest.mark.integration

START_MS = 1_900_000_000_000
FAST = RuntimeOptions(
    consumer=ConsumerOptions(block_ms=100, claim_idle_s=0.5, claim_interval_s=0.2), timer_poll_interval_s=0.02
)


@pytest.fixture
async def r(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = connect(redis_url)
    yield client
    await client.aclose()


def runtime(r: Any, publisher: RecordingPublisher, **kwargs: object) -> SagaRuntime:
    return SagaRuntime(r, [counter_machine()], publisher, clock=ManualClock(START_MS), options=FAST, **kwargs)  # type: ignore[arg-type]


async def test_a_finished_instance_leaves_exactly_its_keys(r: Any) -> None:
    publisher = RecordingPublisher()
    rt = runtime(r, publisher)
    assert await rt.deliver("counter", event("Start", "e1", id="c-1")) == "applied"
    assert await rt.deliver("counter", event("Add", "e2", id="c-1")) == "applied"
    assert await rt.deliver("counter", event("Stop", "e3", id="c-1")) == "applied"
    assert publisher.types() == ["Done"]
    assert publisher.published[0].detail["count"] == 1
    assert publisher.published[0].detail["saga"]["messageId"].startswith("counter/c-1/")
    k, shard = SagaKeys(), shard_of("c-1", 8)
    owner = SagaKeys.timer_owner("counter", shard)
    assert sorted(await all_keys(r)) == sorted(
        key.encode()
        for key in [
            k.state("counter", "c-1"),
            k.history("counter", "c-1"),
            k.seen("counter", "c-1"),
            k.index("counter", shard),
            k.counts("counter", shard),
            k.counters("counter", shard),
            Keys().timer_owners,
        ]
    ), "no outbox, no timer left"
    assert await r.smembers(Keys().timer_owners) == {owner.encode()}
    instance = Instance.loads(await r.hget(k.state("counter", "c-1"), "doc"))
    assert (instance.status, instance.state, instance.version, instance.timers) == (COMPLETED, "done", 3, {})
    assert await r.hgetall(k.counts("counter", shard)) == {b"COMPLETED|done": b"1"}
    counters = await r.hgetall(k.counters("counter", shard))
    assert counters == {b"started": b"1", b"commits": b"3", b"finished:COMPLETED": b"1"}
    assert sorted(await r.hkeys(k.seen("counter", "c-1"))) == [b"e:e1", b"e:e2", b"e:e3"]
    history = [orjson.loads(h) for h in await r.lrange(k.history("counter", "c-1"), 0, -1)]
    assert [(h["input"], h["from"], h["to"]) for h in history] == [
        ("Start", "(start)", "open"),
        ("Add", "open", "open"),
        ("Stop", "open", "done"),
    ]


async def test_duplicates_and_replays_are_dropped_without_side_effects(r: Any) -> None:
    publisher = RecordingPublisher()
    rt = runtime(r, publisher)
    start = event("Start", "e1", id="c-1")
    assert await rt.deliver("counter", start, delivery_id="e1:rule:t") == "applied"
    assert await rt.deliver("counter", start, delivery_id="e1:rule:t") == "duplicate"  # redelivered copy
    assert await rt.deliver("counter", start, delivery_id="e1:other:t") == "duplicate"  # same event, replayed
    add = event("Add", "e2", id="c-1")
    assert await rt.deliver("counter", add) == "applied"
    assert await rt.deliver("counter", add) == "duplicate"
    stop = event("Stop", "e3", id="c-1")
    assert await rt.deliver("counter", stop) == "applied"
    assert await rt.deliver("counter", stop) == "duplicate"
    assert await rt.deliver("counter", event("Stop", "e4", id="c-1")) == "ignored"  # a new event after the end
    assert publisher.types() == ["Done"]
    instance = await rt.instance("counter", "c-1")
    assert instance is not None
    assert instance.data == {"count": 1}
    counters = await rt.store.counters("counter", 8)
    assert counters["duplicates"] == 4


async def test_two_processes_serialise_one_instance_without_losing_an_update(redis_url: str) -> None:
    clients = [connect(redis_url) for _ in range(2)]
    publishers = [RecordingPublisher(), RecordingPublisher()]
    runtimes = [SagaRuntime(c, [counter_machine()], p, options=FAST) for c, p in zip(clients, publishers, strict=True)]
    try:
        await runtimes[0].deliver("counter", event("Start", "s", id="c-9"))
        adds = [event("Add", f"a{i}", id="c-9") for i in range(200)]
        outcomes = await asyncio.gather(*(runtimes[i % 2].deliver("counter", e) for i, e in enumerate(adds)))
        assert outcomes == ["applied"] * 200
        instance = await runtimes[1].instance("counter", "c-9")
        assert instance is not None
        assert instance.data["count"] == 200
        assert instance.version == 201
        assert len(await runtimes[0].store.history("counter", "c-9")) == 201
    finally:
        for client in clients:
            await client.aclose()


async def test_a_state_timeout_fires_once_and_a_left_state_cancels_its_timer(r: Any) -> None:
    publisher = RecordingPublisher()
    clock = ManualClock(START_MS)
    rt = SagaRuntime(r, [counter_machine(timeout_s=30)], publisher, clock=clock, options=FAST)
    await rt.deliver("counter", event("Start", "e1", id="late"))
    await rt.deliver("counter", event("Start", "e2", id="quick"))
    await rt.deliver("counter", event("Stop", "e3", id="quick"))
    clock.advance(29_999)
    assert await rt.fire_due_timers() == 0
    clock.advance(1)
    assert await rt.fire_due_timers() == 1
    assert await rt.fire_due_timers() == 0
    late = await rt.instance("counter", "late")
    assert late is not None
    assert (late.status, late.state) == (FAILED, "expired")
    assert publisher.types() == ["Done", "Expired"]
    owner = SagaKeys.timer_owner("counter", shard_of("late", 8))
    assert await r.zcard(Keys().timers(owner)) == 0


async def test_a_crash_between_commit_and_dispatch_is_dispatched_by_the_redelivery(r: Any) -> None:
    publisher = RecordingPublisher()

    class Crash(Exception):
        pass

    async def crash(definition: object, instance: Instance) -> None:
        if instance.state == "done":
            raise Crash

    rt = runtime(r, publisher, hooks=RuntimeHooks(after_commit=crash))
    await rt.deliver("counter", event("Start", "e1", id="c-1"))
    stop = event("Stop", "e2", id="c-1")
    with pytest.raises(Crash):
        await rt.deliver("counter", stop, delivery_id="d-stop")
    assert publisher.types() == []
    pending = await rt.pending_outbox("counter", "c-1")
    assert [m.get("detail_type") for m in pending if m["kind"] == "event"] == ["Done"]
    instance = await rt.instance("counter", "c-1")
    assert instance is not None
    assert instance.status == COMPLETED  # the state is saved with its messages...
    assert await rt.deliver("counter", stop, delivery_id="d-stop") == "duplicate"  # ...and sent on redelivery
    assert publisher.types() == ["Done"]
    assert await rt.pending_outbox("counter", "c-1") == []
    assert await rt.deliver("counter", stop, delivery_id="d-stop") == "duplicate"
    assert publisher.types() == ["Done"]


async def test_a_failing_publish_keeps_the_messages_until_it_succeeds(r: Any) -> None:
    publisher = RecordingPublisher()
    rt = runtime(r, publisher)
    await rt.deliver("counter", event("Start", "e1", id="c-1"))
    publisher.fail_transient = 1
    stop = event("Stop", "e2", id="c-1")
    with pytest.raises(SagaError):
        await rt.deliver("counter", stop)
    assert len(await rt.pending_outbox("counter", "c-1")) >= 1
    assert await rt.deliver("counter", stop) == "duplicate"
    assert publisher.types() == ["Done"]
    assert await rt.pending_outbox("counter", "c-1") == []


async def test_an_event_the_router_refuses_is_noted_and_removed(r: Any) -> None:
    publisher = RecordingPublisher()
    publisher.refuse = {"Done"}
    rt = runtime(r, publisher)
    await rt.deliver("counter", event("Start", "e1", id="c-1"))
    await rt.deliver("counter", event("Stop", "e2", id="c-1"))
    assert await rt.pending_outbox("counter", "c-1") == []
    history = await rt.store.history("counter", "c-1")
    assert history[-1]["outcome"] == "undeliverable"
    assert history[-1]["type"] == "Done"
    assert "MalformedDetail" in history[-1]["why"]
    assert (await rt.store.counters("counter", 8))["undeliverable"] == 1


async def test_the_queue_is_consumed_and_what_cannot_be_taken_is_rejected(r: Any) -> None:
    publisher = RecordingPublisher()
    rt = SagaRuntime(r, [counter_machine()], publisher, options=FAST)
    await enqueue(r, "counter-saga", event("Start", "e1", id="q-1"), "e1:rule:t")
    await enqueue(r, "counter-saga", event("Start", "e1", id="q-1"), "e1:rule:t")  # a duplicate delivery
    await enqueue(r, "counter-saga", b"not json", "x1")
    await enqueue(r, "counter-saga", event("Start", "e2"), "e2:rule:t")  # no correlation key
    await enqueue(r, "counter-saga", event("Stop", "e3", id="q-1"), "e3:rule:t")
    async with rt:
        await eventually(lambda: publisher.types() == ["Done"], what="the saga to finish")
        rejected = SagaKeys().rejected("counter")
        await eventually(lambda: r.xlen(rejected), what="rejections")
        await eventually(lambda: _xlen_is(r, Keys().queue("counter-saga"), 0), what="the queue to be consumed")
        entries = await r.xrange(rejected)
    reasons = sorted(fields[b"reason"].decode() for _, fields in entries)
    assert reasons == ["no correlation key ('detail.id') in the event", "the message body is not JSON"]
    assert rt.outcomes["duplicate"] == 1
    types = orjson.loads(await r.hget(SagaKeys().types, "counter"))
    assert types["queue"] == "counter-saga"
    assert [s["name"] for s in types["states"]] == ["open", "done", "expired"]


async def test_a_message_that_keeps_failing_is_rejected_and_its_outbox_still_goes_out(r: Any) -> None:
    publisher = RecordingPublisher()
    publisher.fail_transient = 10**6
    options = RuntimeOptions(
        consumer=ConsumerOptions(block_ms=50, claim_idle_s=0.05, claim_interval_s=0.05, max_deliveries=3)
    )
    rt = SagaRuntime(r, [counter_machine()], publisher, options=options)
    await rt.deliver("counter", event("Start", "e1", id="p-1"))
    await enqueue(r, "counter-saga", event("Stop", "e2", id="p-1"), "e2:rule:t")  # its Done never goes out
    async with rt:
        await eventually(lambda: r.xlen(SagaKeys().rejected("counter")), what="the message to be rejected")
    _, fields = (await r.xrange(SagaKeys().rejected("counter")))[0]
    assert fields[b"reason"] == b"delivered 4 times without being handled"
    assert await r.xlen(Keys().queue("counter-saga")) == 0
    assert [m["detail_type"] for m in await rt.pending_outbox("counter", "p-1") if m["kind"] == "event"] == ["Done"]
    publisher.fail_transient = 0  # PutEvents works again: the outbox's own retry timer sends what was committed
    async with rt:  # (stopping the runtime mid-dispatch would leave the rest to the next retry: wait for all of it)
        await eventually(lambda: publisher.types() == ["Done"], what="the outbox retry")

        async def outbox_empty() -> bool:
            return await rt.pending_outbox("counter", "p-1") == []

        await eventually(outbox_empty, what="the outbox to be empty")
    assert publisher.types() == ["Done"]


async def test_a_control_message_on_the_queue_reaches_the_instance(r: Any) -> None:
    from sagas import RESUME, Final, On, State, StateMachine

    machine = StateMachine(
        name="pausable",
        queue="pausable-saga",
        correlate="detail.id",
        start=[On("Start", to="parked")],
        states=[State("parked", status="PARKED", on=[On(RESUME, to="done")]), Final("done")],
    ).compile()
    rt = SagaRuntime(r, [machine], RecordingPublisher(), options=FAST)
    await enqueue(r, "pausable-saga", event("Start", "e1", id="x"), "d1")
    await enqueue(r, "pausable-saga", control_message("pausable", "x", "resume"), "d2")
    async with rt:

        async def done() -> bool:
            instance = await rt.instance("pausable", "x")
            return instance is not None and instance.status == COMPLETED

        await eventually(done, what="the resumed instance to finish")


async def _xlen_is(r: Any, key: str, length: int) -> bool:
    return int(await r.xlen(key)) == length


async def test_a_copy_that_loses_its_commit_to_a_process_that_then_dies_still_sends_the_outbox(redis_url: str) -> None:
    """Two copies of one start event (a message claimed from a slow consumer, or a client's retry of the commit):
    process A commits first and dies before dispatching; process B, which loaded before A's commit, finds its own
    commit refused as a duplicate. B is then the only one left to send what A committed (the instance's timeout
    here; an order's ChargePayment in the demo), so it must, or the order never moves."""
    clients = [connect(redis_url) for _ in range(2)]

    class Crash(Exception):
        pass

    committed = asyncio.Event()

    async def die_after_commit(definition: object, instance: Instance) -> None:
        committed.set()
        raise Crash

    a = SagaRuntime(
        clients[0], [counter_machine()], RecordingPublisher(), options=FAST, hooks=RuntimeHooks(die_after_commit)
    )
    b = SagaRuntime(clients[1], [counter_machine()], RecordingPublisher(), options=FAST)
    load = b.store.load

    async def load_then_wait_for_a(*args: Any, **kwargs: Any) -> Any:
        found = await load(*args, **kwargs)
        await committed.wait()
        return found

    b.store.load = load_then_wait_for_a  # type: ignore[method-assign]
    start = event("Start", "e1", id="c-7")
    try:
        racing = asyncio.create_task(b.deliver("counter", start, delivery_id="d-1"))
        await asyncio.sleep(0)
        with pytest.raises(Crash):
            await a.deliver("counter", start, delivery_id="d-1")
        assert await racing == "duplicate"
        assert await b.pending_outbox("counter", "c-7") == []
        owner = SagaKeys.timer_owner("counter", shard_of("c-7", 8))
        assert await clients[1].zrange(Keys().timers(owner), 0, -1) == [b"c-7|timeout"]
        entries = await b.store.entries("counter", 8)
        assert [(e.id, e.state, e.version) for e in entries] == [("c-7", "open", 1)]
    finally:
        for client in clients:
            await client.aclose()
