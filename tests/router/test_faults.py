"""Storage faults: one wire error per fault class, and logs without tracebacks, a few lines per fault and second."""

from __future__ import annotations

import logging

import pytest
import redis.exceptions

from router.errors import InternalException
from router.faults import FAULT_MESSAGES, QuietFaults, fault_answer, fault_class, log_fault, storage_error


@pytest.mark.parametrize(
    ("err", "kind"),
    [
        (
            redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."),
            "unreachable",
        ),
        (redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"), "unreachable"),
        (redis.exceptions.TimeoutError("Timeout reading from socket"), "timeout"),
        (redis.exceptions.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."), "out-of-memory"),
        (redis.exceptions.ResponseError("Error running script: OOM command not allowed when ..."), "out-of-memory"),
        (redis.exceptions.ReadOnlyError("You can't write against a read only replica."), "read-only"),
        (ConnectionResetError(104, "Connection reset by peer"), "unreachable"),
        (redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), None),
        (ValueError("not a fault"), None),
        # a Redis Cluster: redis-py's cluster client raises these (RedisClusterException is no RedisError)
        (
            redis.exceptions.RedisClusterException(
                "Redis Cluster cannot be connected. Please provide at least one reachable node: Error 111 ..."
            ),
            "unreachable",
        ),
        (
            redis.exceptions.RedisClusterException("All slots are not covered after query all startup_nodes."),
            "unreachable",
        ),
        (redis.exceptions.ClusterDownError("CLUSTERDOWN The cluster is down"), "unreachable"),
        (redis.exceptions.MasterDownError("MASTERDOWN Link with MASTER is down"), "unreachable"),
        (redis.exceptions.TryAgainError("TRYAGAIN Multiple keys request during rehashing of slot"), "unreachable"),
        (redis.exceptions.SlotNotCoveredError('Slot "12" is not covered by the cluster.'), "unreachable"),
        (redis.exceptions.ClusterError("TTL exhausted."), "unreachable"),
        (redis.exceptions.RedisClusterException("EVALSHA - all keys must map to the same key slot"), None),  # a bug
    ],
)
def test_fault_classes(err: BaseException, kind: str | None) -> None:
    assert fault_class(err) == kind
    wire = storage_error(err)
    assert isinstance(wire, InternalException)
    assert wire.status == 500
    assert wire.message == (FAULT_MESSAGES[kind] if kind else "An internal error occurred.")
    assert "127.0.0.1" not in wire.message


def _record(message: str, err: BaseException) -> logging.LogRecord:
    try:
        raise err
    except BaseException as raised:
        return logging.LogRecord(
            "switchboard.ingest", logging.ERROR, __file__, 1, message, (), (type(raised), raised, None)
        )


def test_quiet_faults_strips_tracebacks_and_limits_each_fault_to_a_few_lines_a_second() -> None:
    quiet = QuietFaults(per_second=3)
    refused = redis.exceptions.ConnectionError("Connection refused.")
    records = [_record("bus loop failed", refused) for _ in range(30)]
    records += [_plain("delivery failed, retrying: %s", refused) for _ in range(30)]  # other loggers, no traceback
    passed = [record for record in records if quiet.filter(record)]
    assert [record.getMessage() for record in passed] == [
        "bus loop failed: storage unreachable (ConnectionError: Connection refused.)"
    ] * 3
    assert all(record.exc_info is None for record in passed)
    # another fault class has its own allowance
    assert quiet.filter(_record("bus loop failed", redis.exceptions.TimeoutError("slow")))


def test_quiet_faults_says_how_many_lines_it_dropped() -> None:
    now = [100.0]
    quiet = QuietFaults(per_second=1, clock=lambda: now[0])
    refused = redis.exceptions.ConnectionError("Connection refused.")
    assert quiet.filter(_plain("retrying: %s", refused))
    assert not any(quiet.filter(_plain("retrying: %s", refused)) for _ in range(7))
    now[0] += 1.0  # the next second
    later = _plain("retrying: %s", refused)
    assert quiet.filter(later)
    assert later.getMessage() == "retrying: Connection refused. [7 similar lines dropped]"


def _plain(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("switchboard.delivery", logging.WARNING, __file__, 1, message, args, None)


def test_quiet_faults_sees_a_fault_behind_a_translated_error() -> None:
    try:
        try:
            raise redis.exceptions.ConnectionError("Connection refused.")
        except redis.exceptions.ConnectionError as err:
            raise InternalException("Storage is unavailable.") from err
    except InternalException as translated:
        record = logging.LogRecord(
            "switchboard.schemas",
            logging.ERROR,
            __file__,
            1,
            "discovery failed",
            (),
            (InternalException, translated, None),
        )
    assert QuietFaults().filter(record)
    assert record.exc_info is None
    assert record.getMessage() == "discovery failed: storage unreachable (InternalException: Storage is unavailable.)"


def test_quiet_faults_leaves_other_records_alone() -> None:
    quiet = QuietFaults(per_second=1)
    bug = _record("internal error", KeyError("x"))
    assert all(quiet.filter(bug) for _ in range(10))
    assert bug.exc_info is not None
    plain = logging.LogRecord("switchboard", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    assert quiet.filter(plain)
    assert plain.getMessage() == "hello you"


def test_log_fault_writes_one_line_without_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("switchboard.test_log_fault")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        for _ in range(20):
            log_fault(logger, "PutRule", redis.exceptions.OutOfMemoryError("command not allowed"))
    assert [r.getMessage() for r in caplog.records] == [
        "PutRule: storage out-of-memory (OutOfMemoryError: command not allowed)"
    ] * 3
    assert all(r.exc_info is None for r in caplog.records)


def test_fault_answer_logs_a_fault_in_one_line_and_a_bug_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("switchboard.test.answer")
    with caplog.at_level(logging.WARNING, logger=logger.name):
        fault = redis.exceptions.ClusterDownError("CLUSTERDOWN The cluster is down")
        assert fault_answer(logger, "SQS ListQueues", fault) == FAULT_MESSAGES["unreachable"]
        bug = redis.exceptions.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
        assert fault_answer(logger, "SQS ListQueues", bug) == "An internal error occurred."
    (line, traced) = caplog.records
    assert (line.getMessage(), line.exc_info) == (
        "SQS ListQueues: storage unreachable (ClusterDownError: CLUSTERDOWN The cluster is down)",
        None,
    )
    assert traced.getMessage() == "internal error in SQS ListQueues"
    assert traced.exc_info is not None
