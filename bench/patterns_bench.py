"""Matcher benchmark: `patterns.Machine` on the city-lots corpus, against the orjson floor and LocalStack's matcher.

Not a test. Run it as `.venv/bin/python -m bench.patterns_bench` (see BENCHMARKS.md for the recorded command).

It generates the corpus with the project's own generator, `bench/city_lots.py` (213,068 events, layout 2, seed 1 by
default), into `bench/data/` (git-ignored, cached), then, in one process:

- for each rule set of the corpus, builds a Machine, checks its per-rule match counts equal `expected` (and fails
  loudly otherwise), and times parse plus match: `matches_for_event(line)` on each line's raw bytes, which parses
  it (orjson) and matches, exactly as the router does with the bytes it reads from its ingest log;
- times the `scale` rule set at 10, 100, 1,000 and 10,000 rules;
- times `orjson.loads` alone, the parsing floor;
- runs LocalStack's matcher (`localstack.utils.event_matcher.matches_event`, once per rule per event, as
  LocalStack's events provider does) in a subprocess under its own venv, `bench/.venv-peers`, on a slice of the
  corpus (it is too slow for the whole of it), and checks its counts agree with ours on that slice.

Each timing is the median of `--repeat` passes. The result is a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

import patterns
from bench import city_lots

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
PEER_VENV = ROOT / "bench" / ".venv-peers"
PEER_SCRIPT = ROOT / "bench" / "_peer_localstack.py"
LOCALSTACK_REQUIREMENT = "localstack-core[base-runtime]==2026.3.0"
SCALE_SIZES = (10, 100, 1000, 10000)


# --- data --------------------------------------------------------------------------------------------------------


def _generate(path: Path, args: Sequence[str]) -> Path:
    """Run the corpus generator (bench.city_lots) once and cache its output at `path`."""
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    print(f"generating {path.name} ...", file=sys.stderr)
    with tmp.open("wb") as out:
        subprocess.run([sys.executable, "-m", "bench.city_lots", *args], stdout=out, check=True, cwd=ROOT)
    tmp.replace(path)
    return path


def corpus_files(count: int, seed: int, layout: int) -> tuple[Path, Path, Path]:
    common = ["--count", str(count), "--seed", str(seed), "--layout", str(layout)]
    stem = f"lots{city_lots.VERSION}-{layout}-n{count}-s{seed}"  # (`cl...`: the generator used before 2026-12-02)
    events = _generate(DATA / f"{stem}.jsonl", ["events", *common])
    rules = _generate(DATA / f"{stem}-rules.json", ["rules", *common])
    scale_name = f"lots{city_lots.VERSION}-scale-{max(SCALE_SIZES)}-s{seed}.json"
    scale = _generate(DATA / scale_name, ["scale", "--rules", str(max(SCALE_SIZES))])
    return events, rules, scale


# --- timing ------------------------------------------------------------------------------------------------------


def median_rate(run: Callable[[], None], events: int, repeat: int) -> float:
    """Median events/s over `repeat` timed runs of `run`."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        rates.append(events / (time.perf_counter() - start))
    return statistics.median(rates)


def build_machine(rules: Sequence[dict[str, Any]]) -> tuple[patterns.Machine, float]:
    machine = patterns.Machine()
    start = time.perf_counter()
    for rule in rules:
        machine.add_rule(rule["name"], rule["pattern"])
    return machine, time.perf_counter() - start


def count_matches(machine: patterns.Machine, lines: Sequence[bytes]) -> Counter[str]:
    counts: Counter[str] = Counter()
    match = machine.matches_for_event
    for line in lines:
        counts.update(match(line))
    return counts


def parse_and_match(machine: patterns.Machine, lines: Sequence[bytes]) -> Callable[[], None]:
    """Parse plus match as the router does it: the event's raw bytes go to `matches_for_event`, which parses them."""
    match = machine.matches_for_event

    def run() -> None:
        for line in lines:
            match(line)

    return run


def parse_only(lines: Sequence[bytes]) -> Callable[[], None]:
    loads = orjson.loads

    def run() -> None:
        for line in lines:
            loads(line)

    return run


# --- LocalStack ----------------------------------------------------------------------------------------------------


def ensure_peer_venv() -> Path:
    """Create `bench/.venv-peers` with LocalStack's matcher in it, once; return its python."""
    python = PEER_VENV / "bin" / "python"
    probe = [str(python), "-c", "import localstack.utils.event_matcher"]
    if python.exists() and subprocess.run(probe, check=False, capture_output=True).returncode == 0:
        return python
    print(f"creating {PEER_VENV} with {LOCALSTACK_REQUIREMENT} ...", file=sys.stderr)
    venv.EnvBuilder(with_pip=True).create(PEER_VENV)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", LOCALSTACK_REQUIREMENT]
    subprocess.run(pip, check=True)
    return python


def run_localstack(
    python: Path, rules: Sequence[dict[str, Any]], events_path: Path, limit: int, max_seconds: float
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump([{"name": r["name"], "pattern": r["pattern"]} for r in rules], f)
        rules_path = f.name
    try:
        cmd = [str(python), str(PEER_SCRIPT), "--events", str(events_path), "--rules", rules_path]
        cmd += ["--limit", str(limit), "--max-seconds", str(max_seconds)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(rules_path)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# --- report ------------------------------------------------------------------------------------------------------


def machine_description() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"nproc {os.cpu_count()}, {cpu}, Python {platform.python_version()}, orjson {orjson.__version__}"


def fmt_rate(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:,.0f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=213068, help="corpus size (default: the full 213,068 events)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--layout", type=int, choices=[1, 2], default=2)
    ap.add_argument("--repeat", type=int, default=3, help="timed passes per measurement; the median is reported")
    ap.add_argument("--sets", default="", help="comma-separated rule sets to run (default: all)")
    ap.add_argument("--scale", default=",".join(map(str, SCALE_SIZES)), help="rule counts for the scale runs")
    ap.add_argument("--no-peers", action="store_true", help="skip LocalStack")
    ap.add_argument("--peer-events", type=int, default=2000, help="at most this many events for LocalStack")
    ap.add_argument("--peer-seconds", type=float, default=20.0, help="time budget per LocalStack run")
    ap.add_argument("--peers-only", action="store_true", help="only the orjson floor and LocalStack (no Machine)")
    args = ap.parse_args(argv)

    events_path, rules_path, scale_path = corpus_files(args.count, args.seed, args.layout)
    lines = events_path.read_bytes().splitlines()
    rule_sets: dict[str, list[dict[str, Any]]] = json.loads(rules_path.read_text())
    scale_rules: list[dict[str, Any]] = json.loads(scale_path.read_text())
    wanted = [s for s in args.sets.split(",") if s] or list(rule_sets)
    scale_sizes = [int(n) for n in args.scale.split(",") if n]
    n = len(lines)
    peer_python = None if args.no_peers else ensure_peer_venv()
    print(f"{n:,} events, {machine_description()}", file=sys.stderr)

    floor = median_rate(parse_only(lines), n, args.repeat)
    rows: list[tuple[str, int, str, float | None, float | None, dict[str, Any] | None]] = []
    failures: list[str] = []

    def measure(label: str, rules: list[dict[str, Any]], check: bool) -> None:
        if args.peers_only:
            assert peer_python is not None, "--peers-only needs the peers"
            peer_only = run_localstack(peer_python, rules, events_path, args.peer_events, args.peer_seconds)
            rows.append((label, len(rules), "not run", None, None, peer_only))
            return
        machine, build_s = build_machine(rules)
        counts = count_matches(machine, lines)
        status = "-"
        if check:
            wrong = [
                f"{r['name']}: got {counts.get(r['name'], 0)}, expected {r['expected']}"
                for r in rules
                if counts.get(r["name"], 0) != r["expected"]
            ]
            status = "ok" if not wrong else f"{len(wrong)} WRONG"
            failures.extend(f"{label} {w}" for w in wrong)
        rate = median_rate(parse_and_match(machine, lines), n, args.repeat)
        peer: dict[str, Any] | None = None
        if peer_python is not None:
            peer = run_localstack(peer_python, rules, events_path, args.peer_events, args.peer_seconds)
            ours = count_matches(machine, lines[: peer["events"]])
            disagree = [name for name, c in peer["counts"].items() if c != ours.get(name, 0)]
            if disagree:
                peer["disagree"] = disagree
        rows.append((label, len(rules), status, rate, build_s, peer))
        print(f"  {label}: {rate:,.0f} ev/s, counts {status}", file=sys.stderr)

    for name in wanted:
        measure(name, rule_sets[name], check=True)
    for size in scale_sizes:
        measure(f"scale-{size}", scale_rules[:size], check=False)

    today = dt.date.today().isoformat()
    print(f"Matcher benchmark, {today}: {n:,} city-lots events (layout {args.layout}, seed {args.seed}).")
    print(f"Machine: {machine_description()}. Median of {args.repeat} passes.")
    print()
    print(f"orjson.loads alone (parsing floor): **{floor:,.0f} events/s**")
    print()
    print(
        "| rule set | rules | counts = expected | events/s (parse + match) | vs orjson floor | build s "
        "| LocalStack events/s (events run) | Switchboard / LocalStack |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for label, size, status, rate, build_s, peer in rows:
        ratio = "n/a"
        if peer is None:
            peer_cell = "not run"
        else:
            peer_rate = peer["events"] / peer["seconds"]
            peer_cell = f"{peer_rate:,.1f} ({peer['events']:,})"
            if rate is not None:
                ratio = f"{rate / peer_rate:,.0f}x"
            if peer.get("disagree"):
                peer_cell += f" DISAGREES on {', '.join(peer['disagree'])}"
        ours = "n/a | n/a | n/a" if rate is None else f"{rate:,.0f} | {rate / floor:.2f}x | {build_s:.2f}"
        print(f"| {label} | {size:,} | {status} | {ours} | {peer_cell} | {ratio} |")
    by_label = {label: rate for label, _, _, rate, _, _ in rows if rate is not None}
    print()
    if "PARTIAL_COMBO" in by_label:
        print(f"- PARTIAL_COMBO / orjson floor: {by_label['PARTIAL_COMBO'] / floor:.2f}x (target ≥ 0.5x)")
    if "scale-10" in by_label and "scale-10000" in by_label:
        print(f"- scale 10,000 rules / 10 rules: {by_label['scale-10000'] / by_label['scale-10']:.0%} (target ≥ 70%)")
    peer_1000 = next((peer for label, *_, peer in rows if label == "scale-1000" and peer), None)
    if peer_1000 is not None and "scale-1000" in by_label:
        ratio_1000 = by_label["scale-1000"] / (peer_1000["events"] / peer_1000["seconds"])
        print(f"- scale 1,000 rules, Switchboard / LocalStack: {ratio_1000:,.0f}x (target ≥ 300x)")
    if failures:
        print("\nMATCH COUNTS DIFFER FROM EXPECTED:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
