"""Saga benchmark: order-to-cash sagas completed per second with N orders in flight, and the time from
OrderSubmitted to OrderCompleted (p50, p99). One run, one machine, everything on loopback.

Each configuration is one run of the demo (sagas.examples.order_to_cash.demo.run_demo) on a fresh embedded
redis-server (AOF, fsync every second) and a fresh router child process (`switchboard serve --config` with the
example's rules): the saga runtime, the four services and the shop share this process's event loop, and every
message between them travels through the router (PutEvents -> rules -> queue targets), about ten events per order.
The shop keeps N orders unfinished at a time (`in_flight`) and submits the next as each ends; no faults are
injected (every order completes), and the demo's checks are asserted (a fast run that breaks them is no result).

Reported per N: sagas completed per second (orders / the time from the first submission to the last outcome), the
p50 and p99 of OrderSubmitted (the shop's PutEvents) -> OrderCompleted (the outcome read from its queue), and the
CPU time per saga of this process plus its children (the router and redis-server, counted once they exit).

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
import time
from typing import Any

from sagas.examples.order_to_cash.demo import DemoOptions, run_demo


def _cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def one(orders: int, in_flight: int, seed: int) -> dict[str, Any]:
    options = dataclasses.replace(DemoOptions(), orders=orders, seed=seed, faults=0.0, in_flight=in_flight)
    cpu = _cpu_s()
    summary = run_demo(options, None)
    cpu = _cpu_s() - cpu
    if not summary["ok"]:
        raise SystemExit(f"the demo's checks failed at N={in_flight}: {summary['checks']} {summary['pending']}")
    return {
        "sagas_per_s": summary["sagas_per_s"],
        "p50_ms": summary["latency_ms"]["p50"],
        "p99_ms": summary["latency_ms"]["p99"],
        "cpu_ms_per_saga": round(cpu * 1000 / orders, 2),
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
    print(f"{'N in flight':>12} {'sagas/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'CPU ms/saga':>12}")
    for in_flight in args.in_flight:
        runs = [one(args.orders, in_flight, args.seed + r) for r in range(args.rounds)]

        def median(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return float(statistics.median(r[key] for r in runs))

        print(
            f"{in_flight:>12} {median('sagas_per_s'):>9.1f} {median('p50_ms'):>9.0f} {median('p99_ms'):>9.0f} "
            f"{median('cpu_ms_per_saga'):>12.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
