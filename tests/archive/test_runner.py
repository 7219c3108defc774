"""archive.runner and archive.replays pure parts: the replay-name field, windows, state parsing."""

from __future__ import annotations

import orjson

from archive.replays import ReplayState
from archive.runner import replay_name_suffix, window_ms, with_replay_name


def test_replay_name_is_added_last_and_every_other_byte_kept() -> None:
    event = b'{"version":"0","id":"e","time":"2024-01-01T00:00:00Z","detail":{"a":[1,2]}}'
    replayed = with_replay_name(event, "r1")
    assert replayed == event[:-1] + b',"replay-name":"r1"}'
    assert orjson.loads(replayed)["replay-name"] == "r1"


def test_an_envelope_that_already_names_a_replay_gets_the_new_name() -> None:
    event = b'{"id":"e","replay-name":"old"}'
    assert orjson.loads(with_replay_name(event, "new")) == {"id": "e", "replay-name": "new"}
    assert orjson.loads(with_replay_name(b"{}", "x")) == {"replay-name": "x"}


def test_windows_are_inclusive_at_whole_milliseconds() -> None:
    assert window_ms(10.0, 20.0) == (10_000, 20_000)
    assert window_ms(10.0004, 20.9999) == (10_001, 20_999)


def test_replay_state_reads_hashes_and_flat_replies() -> None:
    fields = {b"state": b"RUNNING", b"checkpoint": b"00ff", b"last_ms": b"5", b"appended": b"7", b"end_s": b"1.5"}
    state = ReplayState.of(fields)
    assert (state.state, state.checkpoint, state.last_ms, state.appended, state.end_s) == (
        "RUNNING",
        b"\x00\xff",
        5,
        7,
        1.5,
    )
    flat = [b"state", b"CANCELLING", b"checkpoint", b""]
    assert ReplayState.of(flat).state == "CANCELLING"
    assert ReplayState.of(flat).checkpoint == b""
    empty = ReplayState.of(None)
    assert (empty.state, empty.appended, empty.last_ms, empty.reason) == ("STARTING", 0, None, None)


def test_the_suffix_made_once_per_replay_gives_the_same_bytes() -> None:
    event = b'{"version":"0","id":"e","detail":{"q":"a \\"quoted\\" name"}}'
    suffix = replay_name_suffix('r "1"')
    assert with_replay_name(event, 'r "1"', suffix) == with_replay_name(event, 'r "1"')
    assert orjson.loads(with_replay_name(event, 'r "1"', suffix))["replay-name"] == 'r "1"'
    assert with_replay_name(event + b"\n ", "r", replay_name_suffix("r")) == event[:-1] + b',"replay-name":"r"}'
