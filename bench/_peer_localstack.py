"""Runs LocalStack's event matcher over a slice of the corpus; executed by `bench.patterns_bench` in its own venv.

This file runs under `bench/.venv-peers/bin/python` (where `localstack-core` is installed), never in the project's
venv, and imports nothing from the project. It does what LocalStack's events provider does for each event: parse
the event, then call `localstack.utils.event_matcher.matches_event(pattern_text, event_dict)` once per rule, in
rule order. It reads the rules (a JSON list of {"name", "pattern"}) and the events file, matches until the events
or the time budget run out, and prints one JSON line: events matched, seconds, and per-rule match counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", required=True, help="JSON-lines event file")
    ap.add_argument("--rules", required=True, help="JSON file: list of {name, pattern}")
    ap.add_argument("--limit", type=int, required=True, help="at most this many events")
    ap.add_argument("--max-seconds", type=float, required=True, help="stop after this much matching time")
    args = ap.parse_args(argv)

    from localstack.utils.event_matcher import matches_event

    with open(args.rules, encoding="utf-8") as f:
        rules = [(r["name"], json.dumps(r["pattern"])) for r in json.load(f)]
    lines: list[str] = []
    with open(args.events, encoding="utf-8") as f:
        for line in f:
            if len(lines) >= args.limit:
                break
            lines.append(line)

    counts = {name: 0 for name, _ in rules}
    done = 0
    start = time.perf_counter()
    for line in lines:
        event = json.loads(line)
        for name, pattern in rules:
            if matches_event(pattern, event):
                counts[name] += 1
        done += 1
        if time.perf_counter() - start > args.max_seconds:
            break
    elapsed = time.perf_counter() - start
    print(json.dumps({"events": done, "seconds": elapsed, "counts": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
