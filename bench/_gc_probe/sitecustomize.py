"""Bench-only instrumentation of the server under test (`bench.abuse_bench rules`), never part of the router.

`bench.abuse_bench` starts `switchboard serve` with this folder first on PYTHONPATH, so Python imports this module
as `sitecustomize` at start-up. With `SWITCHBOARD_BENCH_GC_LOG` set it appends one line per full (generation 2)
collection, `full <epoch s> <pause s>`, from `gc.callbacks`, so the bench can count the collector's pauses in each
phase; and on SIGUSR1 it unfreezes the heap, collects it in full and writes `leak <epoch s> <frozen> <found>`: how
many objects were frozen and how many of everything tracked were cyclic garbage (what `gc.freeze` would have kept
alive), then freezes again.
"""

from __future__ import annotations

import gc
import os
import signal
import time
from typing import Any

_LOG = os.environ.get("SWITCHBOARD_BENCH_GC_LOG")


def _install(path: str) -> None:
    out = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115  # open for the process's life
    started = [0.0]

    def timed(phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            out.write(f"full {time.time():.3f} {time.perf_counter() - started[0]:.6f}\n")

    def leak(signum: int, frame: object) -> None:
        frozen = gc.get_freeze_count()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        out.write(f"leak {time.time():.3f} {frozen} {found}\n")

    gc.callbacks.append(timed)
    signal.signal(signal.SIGUSR1, leak)


if _LOG:
    _install(_LOG)
