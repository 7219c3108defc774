"""How one archived event is stored: a sorted-set member that orders by event time and carries its envelope.

An archive is one sorted set whose members all have score 0, so Redis orders them by their bytes (memcmp) and
`ZRANGE ... BYLEX` reads a time window in event-time order, page by page, with an exact resume point. Each member is

    time (8) | ingest ms (8) | ingest seq (8) | size (4) | codec (1) | payload

- `time`: the event's `time` in epoch milliseconds plus 2^63, big-endian (so earlier events sort first, pre-1970
  times too); then the ingest stream entry id (`ms-seq`, big-endian), so events of the same second keep their
  arrival order and every member is unique per accepted event. These 24 bytes are the member's *key*: a replay's
  checkpoint is the key of the last member it appended, and the next page starts after `key + ff ff ff ff` (no
  member of the same key can reach that: `size` is far below 2^32 - 1).
- `size`: the envelope's length in bytes (what SizeBytes adds up; the trim script reads it with Lua's `struct`).
- `codec`: 0 = the envelope as is, 1 = Zstandard (the `zstandard` bindings of the reference C library; level 1,
  one frame per event), 2 = Zstandard with one of the archive's trained dictionaries (`Dictionary`: the payload is
  the dictionary's id, 4 bytes big-endian, then the frame). A compressed codec is chosen only when it is smaller.
  The payload decodes to the envelope bytes exactly as the targets saw them.

Dictionaries: events of ~1 KB compress poorly alone (zstd level 1: ~0.53 of the envelope), because each frame
starts from nothing; the same level with a 16 KB dictionary trained on the archive's own events (field names, source,
detail-type, common values) gives ~0.24 and compresses in about half the time (BENCHMARKS.md). `archive.dictionaries`
trains one per archive once it holds enough events and keeps every dictionary ever used, by id, beside the archive's
events; a member names its dictionary, so decoding needs it (`dictionary_ids` lists the ids a page needs,
`decode(member, dictionaries)` takes them; a member whose dictionary was not given raises `MissingDictionary`, never
a silent skip).

Imported events (`switchboard archive import`) have no ingest entry: their ingest ms is 0 and their ingest seq is a
64-bit hash of the envelope, so importing the same file twice stores each event once.

Reading an event's time is on the ingest path, so it avoids parsing JSON: an envelope the router built starts
with `{"version":` and has the top-level `"time":"YYYY-MM-DDTHH:MM:SSZ"` before any user value (the bytes
`"time":"` cannot occur inside a JSON string), and the 20 characters are converted through a small cache. Anything
else is parsed with orjson.
"""

from __future__ import annotations

import calendar
import hashlib
import struct
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

import orjson
import zstandard

__all__ = [
    "CODEC_RAW",
    "CODEC_ZSTD",
    "CODEC_ZSTD_DICT",
    "KEY_BYTES",
    "Decoded",
    "Dictionary",
    "Encoder",
    "MissingDictionary",
    "after_key",
    "decode",
    "decode_events",
    "dictionary_ids",
    "encode",
    "encoder",
    "event_time_ms",
    "import_seq",
    "key_of",
    "member_time_ms",
    "time_max",
    "time_min",
]

BIAS = 1 << 63
KEY_BYTES = 24
_HEAD = struct.Struct(">QQQIB")
HEAD_BYTES = _HEAD.size
CODEC_RAW = 0
CODEC_ZSTD = 1
CODEC_ZSTD_DICT = 2
_LEVEL = 1
_SOURCE_BYTES = 1024
"""The input size the compressors' parameters are chosen for: an envelope is ~1 KB (events of 256 KB still compress,
only with less context than zstd would give them by default)."""
_HASH_LOG = 11
"""log2 of the match-finder's hash table (2,048 entries, 8 KB): zstd picks 13 for level 1 and a 16 KB dictionary. Each
frame probes the dictionary's table at random, and on the ingest path it is cold (the router touched megabytes since
the last batch), so a smaller table costs fewer cache misses: ~1-1.5 µs less per ~1 KB event in batches of 20 with the
caches flushed, for a frame ~1-2% larger (BENCHMARKS.md). Decoding does not depend on it."""
_NEVER = b"\xff\xff\xff\xff"
_DICT_ID = struct.Struct(">I")
_HEAD_DICT = struct.Struct(">QQQIBI")
_CODEC_AT = HEAD_BYTES - 1

_local = threading.local()


class MissingDictionary(Exception):
    """A member compressed with a dictionary the caller did not pass to `decode` (load it first)."""

    def __init__(self, dictionary_id: int) -> None:
        super().__init__(f"archive member needs dictionary {dictionary_id}, which was not loaded")
        self.dictionary_id = dictionary_id


class Dictionary:
    """One trained Zstandard dictionary of an archive, by its id (ids are never reused within an archive's
    storage). Compressors and decompressors are made per thread (zstandard's are not thread-safe)."""

    __slots__ = ("_dict", "_tools", "data", "id", "prefix")

    def __init__(self, dictionary_id: int, data: bytes) -> None:
        self.id = dictionary_id
        self.data = data
        self.prefix = _DICT_ID.pack(dictionary_id)
        self._dict = zstandard.ZstdCompressionDict(data)
        self._tools: dict[int, tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]] = {}

    def _for_thread(self) -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
        thread = threading.get_ident()
        tools = self._tools.get(thread)
        if tools is None:
            params = zstandard.ZstdCompressionParameters.from_level(
                _LEVEL,
                source_size=_SOURCE_BYTES,
                dict_size=len(self.data),
                hash_log=_HASH_LOG,
                write_checksum=0,
                write_dict_id=0,
            )
            compressor = zstandard.ZstdCompressor(dict_data=self._dict, compression_params=params)
            tools = self._tools[thread] = (compressor, zstandard.ZstdDecompressor(dict_data=self._dict))
        return tools

    def compress(self, event: bytes) -> bytes:
        return self._for_thread()[0].compress(event)

    def compressor(self) -> zstandard.ZstdCompressor:
        """This thread's compressor with the dictionary."""
        return self._for_thread()[0]

    def decompress(self, frame: bytes | memoryview, size: int) -> bytes:
        return self._for_thread()[1].decompress(frame, max_output_size=size)


def _compressor() -> zstandard.ZstdCompressor:
    found: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if found is None:
        found = _local.compressor = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=False)
    return found


def _decompressor() -> zstandard.ZstdDecompressor:
    found: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if found is None:
        found = _local.decompressor = zstandard.ZstdDecompressor()
    return found


def encode(event: bytes, time_ms: int, ingest_ms: int, ingest_seq: int, dictionary: Dictionary | None = None) -> bytes:
    """The member for `event` (its envelope bytes) at event time `time_ms`, from ingest entry `ingest_ms-seq`,
    compressed with `dictionary` when given (the archive's current one)."""
    return encoder(dictionary)(event, time_ms, ingest_ms, ingest_seq)


Encoder = Callable[[bytes, int, int, int], bytes]
"""`encode` with its dictionary bound: (event, time ms, ingest ms, ingest seq) -> member."""


def encoder(dictionary: Dictionary | None = None) -> Encoder:
    """`encode` with `dictionary` (or none) bound and this thread's compressor looked up once, for encoding many
    events in a row (the archive target's batch); use it in the thread that made it."""
    pack = _HEAD.pack
    if dictionary is not None:
        compress = dictionary.compressor().compress
        pack_named, dictionary_id = _HEAD_DICT.pack, dictionary.id

        def with_dictionary(event: bytes, time_ms: int, ingest_ms: int, ingest_seq: int) -> bytes:
            size = len(event)
            packed = compress(event)
            if len(packed) + 4 < size:  # the header and the dictionary's id in one pack
                return pack_named(time_ms + BIAS, ingest_ms, ingest_seq, size, CODEC_ZSTD_DICT, dictionary_id) + packed
            return pack(time_ms + BIAS, ingest_ms, ingest_seq, size, CODEC_RAW) + event

        return with_dictionary
    plain = _compressor().compress

    def without_dictionary(event: bytes, time_ms: int, ingest_ms: int, ingest_seq: int) -> bytes:
        size = len(event)
        packed = plain(event)
        if len(packed) < size:
            return pack(time_ms + BIAS, ingest_ms, ingest_seq, size, CODEC_ZSTD) + packed
        return pack(time_ms + BIAS, ingest_ms, ingest_seq, size, CODEC_RAW) + event

    return without_dictionary


class Decoded:
    __slots__ = ("event", "key", "size", "time_ms")

    def __init__(self, key: bytes, time_ms: int, size: int, event: bytes) -> None:
        self.key = key
        self.time_ms = time_ms
        self.size = size
        self.event = event


def decode(member: bytes, dictionaries: Mapping[int, Dictionary] | None = None) -> Decoded:
    """The event a member holds (ValueError for bytes that are not a member; MissingDictionary when it needs a
    dictionary that `dictionaries` lacks)."""
    if len(member) < HEAD_BYTES:
        raise ValueError("not an archive member: too short")
    biased, _, _, size, codec = _HEAD.unpack_from(member)
    try:
        if codec == CODEC_ZSTD_DICT:
            if len(member) < HEAD_BYTES + 4:
                raise ValueError("not an archive member: too short")
            (dictionary_id,) = _DICT_ID.unpack_from(member, HEAD_BYTES)
            dictionary = dictionaries.get(dictionary_id) if dictionaries else None
            if dictionary is None:
                raise MissingDictionary(dictionary_id)
            event = dictionary.decompress(memoryview(member)[HEAD_BYTES + 4 :], size)
        elif codec == CODEC_ZSTD:
            event = _decompressor().decompress(memoryview(member)[HEAD_BYTES:], max_output_size=size)
        elif codec == CODEC_RAW:
            event = member[HEAD_BYTES:]
        else:
            raise ValueError(f"not an archive member: unknown codec {codec}")
    except zstandard.ZstdError as err:
        raise ValueError(f"not an archive member: {err}") from err
    if len(event) != size:
        raise ValueError("not an archive member: size mismatch")
    return Decoded(member[:KEY_BYTES], biased - BIAS, size, event)


def decode_events(members: Iterable[bytes], dictionaries: Mapping[int, Dictionary] | None = None) -> list[bytes | None]:
    """Each member's envelope, as `decode(member, dictionaries).event` gives it, in one loop that makes no object
    per member and looks each dictionary's decompressor up once (a replay's page): None for a member that `decode`
    refuses with ValueError (ask `decode` for the reason); MissingDictionary as `decode` raises it."""
    found: list[bytes | None] = []
    add = found.append
    tools: dict[bytes, Callable[[bytes, int], bytes]] = {}
    for member in members:
        if len(member) > HEAD_BYTES + 4 and member[_CODEC_AT] == CODEC_ZSTD_DICT:
            prefix = member[HEAD_BYTES : HEAD_BYTES + 4]
            decompress = tools.get(prefix)
            if decompress is None:
                (dictionary_id,) = _DICT_ID.unpack(prefix)
                dictionary = dictionaries.get(dictionary_id) if dictionaries else None
                if dictionary is None:
                    raise MissingDictionary(dictionary_id)
                decompress = tools[prefix] = dictionary._for_thread()[1].decompress
            size = int.from_bytes(member[KEY_BYTES:_CODEC_AT], "big")
            try:
                event = decompress(member[HEAD_BYTES + 4 :], size)
            except zstandard.ZstdError:
                add(None)
                continue
            add(event if len(event) == size else None)
        else:
            try:
                add(decode(member, dictionaries).event)
            except ValueError:
                add(None)
    return found


def key_of(member: bytes) -> bytes:
    return member[:KEY_BYTES]


def member_time_ms(member: bytes) -> int:
    """The event time (epoch ms) in a member's key."""
    return int.from_bytes(member[:8], "big") - BIAS


def dictionary_ids(members: Iterable[bytes]) -> set[int]:
    """The ids of the dictionaries these members need to be decoded."""
    return {
        _DICT_ID.unpack_from(member, HEAD_BYTES)[0]
        for member in members
        if len(member) >= HEAD_BYTES + 4 and member[_CODEC_AT] == CODEC_ZSTD_DICT
    }


def after_key(key: bytes) -> bytes:
    """The BYLEX lower bound that starts just after every member whose key is `key` (a checkpoint)."""
    return b"[" + key + _NEVER


def time_min(time_ms: int) -> bytes:
    """The BYLEX lower bound of events at or after `time_ms`."""
    return b"[" + struct.pack(">Q", time_ms + BIAS)


def time_max(time_ms: int) -> bytes:
    """The BYLEX upper bound of events at or before `time_ms` (inclusive)."""
    return b"(" + struct.pack(">Q", time_ms + 1 + BIAS)


def import_seq(event: bytes) -> int:
    """The stand-in ingest seq of an imported event: a 64-bit hash of its envelope."""
    return int.from_bytes(hashlib.blake2b(event, digest_size=8).digest(), "big")


# event time ---------------------------------------------------------------------------------------------------------
_TIME = b'"time":"'
_ROUTER_ENVELOPE = b'{"version":'
_seconds: dict[bytes, int] = {}
_CACHE_MAX = 4096


def event_time_ms(event: bytes) -> int | None:
    """The envelope's `time` in epoch milliseconds; None when it has none that can be read."""
    if event.startswith(_ROUTER_ENVELOPE):
        at = event.find(_TIME)
        if at > 0:
            text = event[at + 8 : at + 28]
            closed = event[at + 28 : at + 29] == b'"'
            cached = _seconds.get(text) if closed else None
            if cached is not None:
                return cached
            if closed and len(text) == 20 and text[19:20] == b"Z":
                try:
                    ms = (
                        calendar.timegm(
                            (
                                int(text[0:4]),
                                int(text[5:7]),
                                int(text[8:10]),
                                int(text[11:13]),
                                int(text[14:16]),
                                int(text[17:19]),
                                0,
                                0,
                                0,
                            )
                        )
                        * 1000
                    )
                except ValueError:
                    ms = None
                if ms is not None and text[4:5] == b"-" and text[10:11] == b"T":
                    if len(_seconds) >= _CACHE_MAX:
                        _seconds.clear()
                    _seconds[text] = ms
                    return ms
    return _parsed_time_ms(event)


def _parsed_time_ms(event: bytes) -> int | None:
    try:
        parsed = orjson.loads(event)
    except orjson.JSONDecodeError:
        return None
    value = parsed.get("time") if isinstance(parsed, dict) else None
    if not isinstance(value, str):
        return None
    return parse_time_ms(value)


def parse_time_ms(value: str) -> int | None:
    """An RFC 3339 timestamp (`Z` or an offset; no zone means UTC) in epoch milliseconds; None if it is not one."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
