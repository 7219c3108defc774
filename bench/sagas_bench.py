"""Saga benchmark: order-to-cash sagas completed per second with N orders in flight, and the time from
OrderSubmitted to OrderCompleted (p50, p99). One run, one machine, everything on loopback.

Each configuration is one run of the demo (sagas.examples.order_to_cash.demo.run_demo) on a fresh embedded
redis-server (AOF, fsync every second) and a fresh router child process (`switchboard serve --config` with the
example's rules): the saga runtime, the four services and the shop share this process's event loop, and every
message between them travels through the router (PutEvents -> rules -> queue targets), about ten events per order.
The shop keeps N orders unfinished at a time (`in_flight`) and submits the next as each ends; no faults are
injected (every order completes), and the demo's checks are asserted (a fast run that breaks them is no result).

Reported per N: sagas completed per second (orders / the time from the first submission to the last outcome), the
p50 and p99 of OrderSubmitted (the shop's PutEvents) -> OrderCompleted (the outcome read from its queue), the CPU
time per saga of this process plus its children (the router and redis-server, counted once they exit), and per
order: the Redis round trips this process made (the saga, the services and the shop: each command or pipeline
written to a connection counts one), the PutEvents requests it made, and, from the server's side (`INFO`), the
commands Redis ran (commandstats, every client: the router too) and the reads it processed.

    .venv/bin/python -m bench.sagas_bench                          # N = 10, 50, 200; 1,000 orders each
    .venv/bin/python -m bench.sagas_bench --in-flight 100 --orders 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from redis.asyncio import connection

from router.embedded_redis import EmbeddedRedis
from sagas.examples.order_to_cash.demo import DemoOptions, run_demo
from sagas.publish import PutEventsPublisher


def _cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


class _Counts:
    """Round trips and PutEvents requests of this process while a run lasts (wrapping redis-py's connection write
    and the publisher's request: the bench's instruments, nothing else uses them)."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.requests = 0

    def __enter__(self) -> _Counts:
        counts = self
        send = self._send = connection.AbstractConnection.send_packed_command
        request = self._request = PutEventsPublisher._request

        async def counted_send(conn: Any, command: Any, check_health: bool = True) -> None:
            counts.round_trips += 1
            await send(conn, command, check_health)

        async def counted_request(publisher: Any, batch: Any) -> Any:
            counts.requests += 1
            return await request(publisher, batch)

        connection.AbstractConnection.send_packed_command = counted_send  # type: ignore[method-assign,assignment]
        PutEventsPublisher._request = counted_request  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        connection.AbstractConnection.send_packed_command = self._send  # type: ignore[method-assign]
        PutEventsPublisher._request = self._request  # type: ignore[method-assign]


def _server(url: str) -> tuple[int, int]:
    """(commands run, reads processed) so far."""
    client = redis.Redis.from_url(url)
    try:
        commands = sum(int(v["calls"]) for v in client.info("commandstats").values())
        reads = int(client.info("stats")["total_reads_processed"])
    finally:
        client.close()
    return commands, reads


def one(orders: int, in_flight: int, seed: int) -> dict[str, Any]:
    options = dataclasses.replace(DemoOptions(), orders=orders, seed=seed, faults=0.0, in_flight=in_flight)
    with tempfile.TemporaryDirectory(prefix="sagas-bench-") as tmp:
        embedded = EmbeddedRedis(Path(tmp), appendfsync="everysec")
        url = embedded.start()
        try:
            commands, reads = _server(url)
            cpu = _cpu_s()
            with _Counts() as counts:
                summary = run_demo(options, url)
            cpu = _cpu_s() - cpu
            commands_after, reads_after = _server(url)
        finally:
            embedded.stop()
    if not summary["ok"]:
        raise SystemExit(f"the demo's checks failed at N={in_flight}: {summary['checks']} {summary['pending']}")
    return {
        "sagas_per_s": summary["sagas_per_s"],
        "p50_ms": summary["latency_ms"]["p50"],
        "p99_ms": summary["latency_ms"]["p99"],
        "cpu_ms_per_saga": round(cpu * 1000 / orders, 2),
        "round_trips": counts.round_trips / orders,
        "requests": counts.requests / orders,
        "commands": (commands_after - commands) / orders,
        "reads": (reads_after - reads) / orders,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-flight", type=int, nargs="+", default=[10, 50, 200], metavar="N")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(
        f"sagas bench: {args.orders} orders per run, {args.rounds} round(s); {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    print(
        f"{'N in flight':>12} {'sagas/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'CPU ms/saga':>12} "
        f"{'RTs/order':>10} {'PutEvents/order':>16} {'Redis cmds/order':>17} {'Redis reads/order':>18}"
    )
    for in_flight in args.in_flight:
        runs = [one(args.orders, in_flight, args.seed + r) for r in range(args.rounds)]

        def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return float(statistics.median(r[key] for r in runs))

        print(
            f"{in_flight:>12} {median('sagas_per_s'):>9.1f} {median('p50_ms'):>9.0f} {median('p99_ms'):>9.0f} "
            f"{median('cpu_ms_per_saga'):>12.2f} {median('round_trips'):>10.1f} {median('requests'):>16.2f} "
            f"{median('commands'):>17.1f} {median('reads'):>18.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
