"""Input shaping benchmark: what shaping one event costs, in the common case and in the hostile ones (issue 7).

Pure CPU, no Redis, no server: `router.transform.render_event` (what a delivery lane calls per event and target) on
events built here, each case timed as the median of `--repeat` runs, with the peak of Python allocations
(tracemalloc, a separate run) for the cases that could amplify. The cases:

- the user guide's EC2 transformer on its sample event (the common case);
- `InputPath: $.detail` of a 260 KB Detail;
- the issue's amplifier: a template repeating `<d>` 2,047 times over that Detail (532 MB if it were built): the
  time to refuse it and the memory it takes;
- a Detail 1,000 levels deep through `InputPath` and through a transformer (deeper than orjson encodes);
- the deep encoder's worst shapes (`router.json_text.dumps`): a deep chain around 100,000 numbers, 1,000 levels of
  400 numbers each, and 720 KB made of nothing but nested objects (its cost is per container).

    .venv/bin/python -m bench.shaping_bench
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from router import json_text
from router.transform import InputTooLarge, InvocationContext, render_event

CONTEXT = InvocationContext("arn:aws:events:us-east-1:123456789012:rule/bench", "bench", datetime.now(UTC))
ENVELOPE: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
}


def event(detail_text: str) -> bytes:
    """An envelope with `detail_text` spliced in as PutEvents does."""
    return orjson.dumps(ENVELOPE)[:-1] + b',"detail":' + detail_text.encode() + b"}"


def transformer(paths: dict[str, str], template: str) -> dict[str, Any]:
    return {"Id": "t", "Arn": "arn", "InputTransformer": {"InputPathsMap": paths, "InputTemplate": template}}


def shape(target: dict[str, Any], raw: bytes) -> Callable[[], Any]:
    def run() -> Any:
        try:
            return render_event(target, raw, CONTEXT)
        except InputTooLarge:
            return None

    return run


def cases() -> list[tuple[str, Callable[[], Any], bool]]:
    """(name, the call to time, whether to report its allocation peak)."""
    ec2 = event('{"instance-id": "i-0123456789", "state": "RUNNING"}')
    guide = transformer(
        {"instance": "$.detail.instance-id", "state": "$.detail.state"},
        '{"instance": <instance>, "state": "<state>", "status": "instance \\"<instance>\\" is <state>"}',
    )
    big = event(orjson.dumps({"blob": "x" * 260_000}).decode())
    amplifier = transformer({"d": "$.detail"}, "[" + ",".join(["<d>"] * 2047) + "]")
    deep_text = '{"a":' * 999 + '{"leaf":"v"}' + "}" * 999
    deep = event(deep_text)
    chain = orjson.loads('{"a":' * 999 + "[" + ",".join(["1"] * 100_000) + "]" + "}" * 999)
    levels = orjson.loads("".join("[[" + ",".join(["1"] * 400) + "]," for _ in range(1000)) + "0" + "]" * 1000)
    chain300 = '{"a":' * 299 + '{"leaf":"v"}' + "}" * 299
    objects = orjson.loads("[" + ",".join([chain300] * 400) + "]")
    return [
        ("guide EC2 transformer, 1 event", shape(guide, ec2), False),
        ("InputPath $.detail, 260 KB Detail", shape({"Id": "t", "InputPath": "$.detail"}, big), False),
        ("amplifier 2,047 x <d> over 260 KB: refused", shape(amplifier, big), True),
        ("InputPath $.detail, Detail 1,000 levels deep", shape({"Id": "t", "InputPath": "$.detail"}, deep), False),
        (
            "transformer over a Detail 1,000 levels deep",
            shape(transformer({"d": "$.detail"}, '{"x": <d>}'), deep),
            False,
        ),
        ("json_text.dumps: 1,000-level chain around 100,000 numbers", lambda: json_text.dumps(chain), False),
        ("json_text.dumps: 1,000 levels of 400 numbers (800 KB)", lambda: json_text.dumps(levels), False),
        ("json_text.dumps: 120,000 nested objects (720 KB)", lambda: json_text.dumps(objects), False),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"# shaping_bench {datetime.now(UTC):%Y-%m-%d} {platform.processor() or platform.machine()} "
          f"Python {platform.python_version()}, median of {args.repeat}")  # fmt: skip
    print("| case | median | allocation peak |")
    print("|---|---|---|")
    for name, call, measure_memory in cases():
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        peak = ""
        if measure_memory:
            tracemalloc.start()
            call()
            peak = f"{tracemalloc.get_traced_memory()[1] / 1e6:.1f} MB"
            tracemalloc.stop()
        median_ms = statistics.median(times) * 1000
        shown = f"{median_ms * 1000:.0f} µs" if median_ms < 1 else f"{median_ms:.1f} ms"
        print(f"| {name} | {shown} | {peak} |")


if __name__ == "__main__":
    main()
