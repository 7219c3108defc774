"""router.envelope: the per-request values PutEvents passes to `build_envelope`, and `Envelopes`' bytes."""

from __future__ import annotations

import uuid

import orjson
import pytest

from router.envelope import EntryError, Envelopes, build_envelope, format_time


def test_build_envelope_uses_the_given_id_and_call_time_unless_the_entry_has_a_time() -> None:
    now_s = 1_700_000_000.0
    entry = {"Source": "s", "DetailType": "d", "Detail": "{}"}
    event_id, envelope = build_envelope(
        entry, account="1", region="r", now_s=now_s, event_id="id-1", now_text=format_time(None, now_s)
    )
    assert event_id == "id-1"
    assert orjson.loads(envelope)["time"] == "2023-11-14T22:13:20Z"
    _, timed = build_envelope(
        {**entry, "Time": 0}, account="1", region="r", now_s=now_s, event_id="id-2", now_text="ignored"
    )
    assert orjson.loads(timed)["time"] == "1970-01-01T00:00:00Z"
    fresh_id, fresh = build_envelope(entry, account="1", region="r", now_s=now_s)
    assert uuid.UUID(fresh_id).version == 4
    assert orjson.loads(fresh)["time"] == "2023-11-14T22:13:20Z"


def _dict_encoding(entry: dict[str, object], event_id: str, account: str, region: str, when: str) -> bytes:
    """The envelope as the dict encoding made it before `Envelopes` (orjson.dumps of the head, the Detail spliced)."""
    head = {
        "version": "0",
        "id": event_id,
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": account,
        "time": when,
        "region": region,
        "resources": entry.get("Resources") or [],
    }
    detail = str(entry["Detail"]).encode("utf-8", "surrogatepass")
    return orjson.dumps(head)[:-1] + b',"detail":' + detail + b"}"


@pytest.mark.parametrize(
    "entry",
    [
        {"Source": "s", "DetailType": "d", "Detail": "{}"},
        {"Source": "bench.delivery", "DetailType": "OrderPlaced", "Detail": '{"a": [1, 2, {"b": null}]}'},
        {"Source": 'q"uote\\back', "DetailType": "tab\tnl\n", "Detail": '{"k":"v"}', "Resources": []},
        {"Source": "é ü ✓ 𝄞", "DetailType": "naïve", "Detail": '{"é": "✓"}', "Resources": ["arn:x", 'r"2']},
        {"Source": "s", "DetailType": "d", "Detail": "{}", "Resources": None, "Time": 0},
        {"Source": "s", "DetailType": "d", "Detail": "{}", "Time": "2024-02-29T12:00:00+02:00"},
    ],
)
def test_envelopes_are_byte_for_byte_the_dict_encoding(entry: dict[str, object]) -> None:
    now_s = 1_700_000_000.5
    envelopes = Envelopes(account="123456789012", region="eu-west-1", now_s=now_s)
    time_value = entry.get("Time")
    when = format_time(time_value if isinstance(time_value, int | str) else None, now_s)
    for event_id in ("e6f1a3a0-0000-4000-8000-000000000001", "e6f1a3a0-0000-4000-8000-000000000002"):
        built = envelopes.build(entry, event_id)  # the second time from the shared middle part
        assert built == _dict_encoding(entry, event_id, "123456789012", "eu-west-1", when)


def test_envelopes_of_one_request_share_parts_only_where_the_entries_agree() -> None:
    envelopes = Envelopes(account="1", region="r", now_s=0.0)
    a = orjson.loads(envelopes.build({"Source": "a", "DetailType": "x", "Detail": "{}"}, "id-1"))
    b = orjson.loads(envelopes.build({"Source": "b", "DetailType": "x", "Detail": "{}"}, "id-2"))
    c = orjson.loads(envelopes.build({"Source": "a", "DetailType": "y", "Detail": "{}", "Time": 60}, "id-3"))
    d = orjson.loads(envelopes.build({"Source": "a", "DetailType": "x", "Detail": '{"n":1}'}, "id-4"))
    assert (a["source"], a["detail-type"], a["time"], a["id"]) == ("a", "x", "1970-01-01T00:00:00Z", "id-1")
    assert (b["source"], b["detail-type"], b["id"]) == ("b", "x", "id-2")
    assert (c["source"], c["detail-type"], c["time"]) == ("a", "y", "1970-01-01T00:01:00Z")
    assert (d["source"], d["detail"], d["id"]) == ("a", {"n": 1}, "id-4")


@pytest.mark.parametrize(
    ("entry", "code"),
    [
        ({"DetailType": "d", "Detail": "{}"}, "InvalidArgument"),
        ({"Source": "s", "DetailType": "d" * 129, "Detail": "{}"}, "InvalidArgument"),
        ({"Source": "s", "DetailType": "d", "Detail": "[]"}, "MalformedDetail"),
        ({"Source": "s", "DetailType": "d", "Detail": "{", "Time": 0}, "MalformedDetail"),
        ({"Source": "s", "DetailType": "d", "Detail": "{}", "Time": "not a time"}, "InvalidArgument"),
    ],
)
def test_envelopes_fail_an_entry_with_its_per_entry_code(entry: dict[str, object], code: str) -> None:
    with pytest.raises(EntryError) as failed:
        Envelopes(account="1", region="r", now_s=0.0).build(entry, "id")
    assert failed.value.code == code
