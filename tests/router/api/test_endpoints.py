"""Global endpoints through boto3 against a real uvicorn and Redis (single and cluster): CreateEndpoint,
DescribeEndpoint, UpdateEndpoint, DeleteEndpoint and ListEndpoints with AWS's shapes and states, every error path,
the quota, the records left in Redis, and PutEvents' `EndpointId` errors (boto3 signs those with SigV4a).

Failover, replication and states across two regions are in tests/router/test_endpoint_failover.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from botocore.exceptions import ClientError

from router.app import create_app
from router.quotas import Quotas
from router.store.endpoints import EndpointStore
from tests.conftest import all_keys
from tests.router.conftest import ServerThread, boto3_client, make_settings
from tests.router.control_plane import control_api

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
HOME = "us-east-1"
OTHER = "us-west-2"
CHECK = "arn:aws:route53:::healthcheck/7f4243fa-ce7e-493b-b3de-4d2058e52ce7"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/Amazon_EventBridge_Invoke_Event_Bus_orders"


def bus_arn(region: str, name: str = "orders", account: str = ACCOUNT) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def routing(route: str = OTHER, check: str = CHECK) -> dict[str, Any]:
    return {"FailoverConfig": {"Primary": {"HealthCheck": check}, "Secondary": {"Route": route}}}


def buses(*arns: str) -> list[dict[str, str]]:
    return [{"EventBusArn": arn} for arn in arns]


def endpoint(name: str = "prod", **extra: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "RoutingConfig": routing(),
        "EventBuses": buses(bus_arn(HOME), bus_arn(OTHER)),
        "RoleArn": ROLE,
        **extra,
    }


def error(call: Any, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


@pytest.fixture
def server(redis_url: str) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(make_settings(redis_url, quotas=Quotas(endpoints=4)), ingest=False))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def client(server: ServerThread) -> Any:
    return boto3_client(server.url)


def test_create_answers_creating_and_describe_has_every_member(client: Any, server: ServerThread) -> None:
    client.create_event_bus(Name="orders")
    boto3_client(server.url, region=OTHER).create_event_bus(Name="orders")
    created = client.create_endpoint(**endpoint(Description="orders, failing over to Oregon"))
    created.pop("ResponseMetadata")
    assert created == {
        "Name": "prod",
        "Arn": f"arn:aws:events:{HOME}:{ACCOUNT}:endpoint/prod",
        "RoutingConfig": routing(),
        "ReplicationConfig": {"State": "ENABLED"},
        "EventBuses": buses(bus_arn(HOME), bus_arn(OTHER)),
        "RoleArn": ROLE,
        "State": "CREATING",
    }
    described = client.describe_endpoint(Name="prod")
    described.pop("ResponseMetadata")
    endpoint_id = described.pop("EndpointId")
    assert len(endpoint_id) == 14
    assert endpoint_id.endswith(".veo")
    assert described.pop("CreationTime") == described.pop("LastModifiedTime")
    assert described.pop("EndpointUrl") == server.url  # a URL that reaches this router: give it as endpoint_url
    assert described.pop("State") == "ACTIVE"
    assert described == {
        "Name": "prod",
        "Description": "orders, failing over to Oregon",
        "Arn": created["Arn"],
        "RoutingConfig": routing(),
        "ReplicationConfig": {"State": "ENABLED"},
        "EventBuses": buses(bus_arn(HOME), bus_arn(OTHER)),
        "RoleArn": ROLE,
    }


def test_a_bus_that_does_not_exist_fails_the_create_and_an_update_fixes_it(client: Any) -> None:
    client.create_endpoint(**endpoint(EventBuses=buses(bus_arn(HOME, "missing"), bus_arn(OTHER, "missing"))))
    described = client.describe_endpoint(Name="prod")
    assert (described["State"], described["StateReason"]) == (
        "CREATE_FAILED",
        f"Event bus {bus_arn(HOME, 'missing')} does not exist.",
    )
    updated = client.update_endpoint(Name="prod", EventBuses=buses(bus_arn(OTHER, "missing"), bus_arn(HOME, "missing")))
    assert updated["State"] == "UPDATING"
    assert updated["EndpointId"] == described["EndpointId"]
    again = client.describe_endpoint(Name="prod")
    assert again["State"] == "UPDATE_FAILED"
    assert again["StateReason"] == f"Event bus {bus_arn(HOME, 'missing')} does not exist."
    assert again["EventBuses"] == buses(bus_arn(OTHER, "missing"), bus_arn(HOME, "missing"))
    assert again["LastModifiedTime"] >= again["CreationTime"]


def test_replication_needs_a_role_unless_disabled(client: Any) -> None:
    body = endpoint()
    del body["RoleArn"]
    assert error(client.create_endpoint, **body) == (
        "ValidationException",
        "Parameter RoleArn is not valid. Reason: A RoleArn is required when event replication is ENABLED.",
    )
    assert error(client.create_endpoint, **body, ReplicationConfig={"State": "ENABLED"})[0] == "ValidationException"
    created = client.create_endpoint(**body, ReplicationConfig={"State": "DISABLED"})
    assert created["ReplicationConfig"] == {"State": "DISABLED"}
    assert "RoleArn" not in created
    assert error(client.update_endpoint, Name="prod", ReplicationConfig={"State": "ENABLED"}) == (
        "ValidationException",
        "Parameter RoleArn is not valid. Reason: A RoleArn is required when event replication is ENABLED.",
    )
    updated = client.update_endpoint(Name="prod", ReplicationConfig={"State": "ENABLED"}, RoleArn=ROLE)
    assert (updated["ReplicationConfig"], updated["RoleArn"]) == ({"State": "ENABLED"}, ROLE)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"EventBuses": buses(bus_arn(HOME), bus_arn(HOME, "other"))},
            "Parameter EventBuses is not valid. Reason: The event buses must be in two different Regions.",
        ),
        (
            {"EventBuses": buses(bus_arn(HOME), bus_arn(OTHER, "other"))},
            "Parameter EventBuses is not valid. Reason: The names of the event buses must be identical in each Region.",
        ),
        (
            {"EventBuses": buses(bus_arn(HOME), bus_arn(OTHER, account="210987654321"))},
            f"Parameter EventBuses is not valid. Reason: The event buses must be in the account of the endpoint "
            f"({ACCOUNT}).",
        ),
        (
            {"EventBuses": buses(bus_arn("eu-west-1"), bus_arn(OTHER)), "RoutingConfig": routing("eu-west-1")},
            f"Parameter EventBuses is not valid. Reason: One of the event buses must be in the Region of the "
            f"endpoint ({HOME}).",
        ),
        (
            {"RoutingConfig": routing("eu-west-1")},
            "Parameter RoutingConfig.FailoverConfig.Secondary.Route is not valid. Reason: The secondary Region must "
            f"be the Region of the other event bus ({OTHER}).",
        ),
        (
            {"RoutingConfig": routing(HOME)},
            "Parameter RoutingConfig.FailoverConfig.Secondary.Route is not valid. Reason: The secondary Region must "
            f"be the Region of the other event bus ({OTHER}).",
        ),
    ],
)
def test_create_and_update_refuse_a_configuration_that_cannot_fail_over(
    client: Any, changes: dict[str, Any], message: str
) -> None:
    assert error(client.create_endpoint, **{**endpoint(), **changes}) == ("ValidationException", message)
    client.create_endpoint(**endpoint())
    assert error(client.update_endpoint, Name="prod", **changes) == ("ValidationException", message)
    assert client.describe_endpoint(Name="prod")["EventBuses"] == buses(bus_arn(HOME), bus_arn(OTHER))


def test_the_model_checks_shapes_and_patterns(server: ServerThread) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "events",
        endpoint_url=server.url,
        region_name=HOME,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )
    code, message = error(client.create_endpoint, **endpoint(EventBuses=buses(bus_arn(HOME))))
    assert code == "ValidationException"
    assert "Member must have length greater than or equal to 2" in message
    code, message = error(client.create_endpoint, **endpoint(RoutingConfig=routing(check="arn:aws:route53:::x")))
    assert code == "ValidationException"
    assert "at 'routingConfig.failoverConfig.primary.healthCheck' failed to satisfy constraint" in message
    code, message = error(client.create_endpoint, **endpoint(Name="no spaces"))
    assert (code, message.split(":")[0]) == ("ValidationException", "1 validation error detected")


def test_a_name_is_taken_once(client: Any) -> None:
    client.create_endpoint(**endpoint())
    assert error(client.create_endpoint, **endpoint()) == (
        "ResourceAlreadyExistsException",
        "Endpoint prod already exists.",
    )


def test_the_endpoints_quota(client: Any) -> None:
    for n in range(4):
        client.create_endpoint(**endpoint(f"e{n}"))
    assert error(client.create_endpoint, **endpoint("e4")) == (
        "LimitExceededException",
        "The requested resource exceeds the maximum number allowed.",
    )
    assert [e["Name"] for e in client.list_endpoints()["Endpoints"]] == ["e0", "e1", "e2", "e3"]
    client.delete_endpoint(Name="e1")
    client.create_endpoint(**endpoint("e4"))


def test_describe_and_list_with_home_region_and_pages(client: Any) -> None:
    for name in ("b", "a", "c", "other"):
        client.create_endpoint(**endpoint(name))
    assert client.describe_endpoint(Name="a", HomeRegion=HOME)["Name"] == "a"
    assert error(client.describe_endpoint, Name="a", HomeRegion=OTHER) == (
        "ResourceNotFoundException",
        "Endpoint a does not exist.",
    )
    assert error(client.describe_endpoint, Name="nope") == (
        "ResourceNotFoundException",
        "Endpoint nope does not exist.",
    )
    assert [e["Name"] for e in client.list_endpoints()["Endpoints"]] == ["a", "b", "c", "other"]
    assert [e["Name"] for e in client.list_endpoints(NamePrefix="o")["Endpoints"]] == ["other"]
    assert client.list_endpoints(HomeRegion=OTHER)["Endpoints"] == []
    first = client.list_endpoints(MaxResults=3, HomeRegion=HOME)
    assert [e["Name"] for e in first["Endpoints"]] == ["a", "b", "c"]
    rest = client.list_endpoints(MaxResults=3, NextToken=first["NextToken"])
    assert [e["Name"] for e in rest["Endpoints"]] == ["other"]
    assert "NextToken" not in rest
    listed = first["Endpoints"][0]
    assert set(listed) >= {"Name", "Arn", "RoutingConfig", "ReplicationConfig", "EventBuses", "RoleArn"}
    assert set(listed) >= {"EndpointId", "EndpointUrl", "State", "CreationTime", "LastModifiedTime"}
    assert error(client.list_endpoints, NextToken="not-a-token") == (
        "ValidationException",
        "Parameter NextToken is not valid.",
    )


def test_update_keeps_what_it_is_not_given(client: Any) -> None:
    client.create_endpoint(**endpoint(Description="first"))
    before = client.describe_endpoint(Name="prod")
    updated = client.update_endpoint(Name="prod", RoutingConfig=routing(check="arn:aws:route53:::healthcheck/new"))
    updated.pop("ResponseMetadata")
    assert set(updated) == {
        "Name",
        "Arn",
        "RoutingConfig",
        "ReplicationConfig",
        "EventBuses",
        "RoleArn",
        "EndpointId",
        "EndpointUrl",
        "State",
    }
    assert updated["State"] == "UPDATING"
    after = client.describe_endpoint(Name="prod")
    assert after["RoutingConfig"] == routing(check="arn:aws:route53:::healthcheck/new")
    assert (after["Description"], after["EndpointId"], after["RoleArn"]) == ("first", before["EndpointId"], ROLE)
    assert after["CreationTime"] == before["CreationTime"]
    assert client.update_endpoint(Name="prod", Description="")["Name"] == "prod"
    assert client.describe_endpoint(Name="prod")["Description"] == ""
    assert error(client.update_endpoint, Name="nope", Description="x") == (
        "ResourceNotFoundException",
        "Endpoint nope does not exist.",
    )


async def test_create_and_delete_leave_exactly_these_keys(client: Any, redis_client: aioredis.Redis) -> None:
    client.create_endpoint(**endpoint())
    endpoint_id = client.describe_endpoint(Name="prod")["EndpointId"]
    keys = {key.decode() for key in await all_keys(redis_client) if b"endpoint" in key}
    assert keys == {"sb:{meta}:endpoints", "sb:{meta}:endpoint-ids"}
    assert await redis_client.hget("sb:{meta}:endpoint-ids", endpoint_id) == b"prod"
    stored = await redis_client.hget("sb:{meta}:endpoints", "prod")
    assert stored is not None
    record = orjson.loads(stored)
    assert (record["EndpointId"], record["HealthCheckId"]) == (endpoint_id, CHECK.rsplit("/", 1)[1])
    assert client.delete_endpoint(Name="prod")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert {key for key in await all_keys(redis_client) if b"endpoint" in key} == set()
    assert error(client.describe_endpoint, Name="prod") == (
        "ResourceNotFoundException",
        "Endpoint prod does not exist.",
    )
    assert error(client.delete_endpoint, Name="prod") == ("ResourceNotFoundException", "Endpoint prod does not exist.")


def test_put_events_names_an_endpoint_that_is_not_there_or_not_active(client: Any, server: ServerThread) -> None:
    sent: list[Any] = []
    client.meta.events.register("before-send.events.PutEvents", lambda request, **_: sent.append(request))
    entry = {"Source": "shop", "DetailType": "OrderPlaced", "Detail": "{}"}
    assert error(client.put_events, EndpointId="abcde12345.veo", Entries=[entry]) == (
        "ResourceNotFoundException",
        "Endpoint abcde12345.veo does not exist.",
    )
    # boto3 signs PutEvents with an EndpointId with SigV4a (awscrt), for every region, to the endpoint_url given
    assert sent[0].url == server.url + "/"
    assert sent[0].headers["Authorization"].startswith(b"AWS4-ECDSA-P256-SHA256 Credential=testing/")
    assert b"/events/aws4_request" in sent[0].headers["Authorization"]
    assert sent[0].headers["X-Amz-Region-Set"] == b"*"
    client.create_endpoint(**endpoint(EventBuses=buses(bus_arn(HOME, "missing"), bus_arn(OTHER, "missing"))))
    endpoint_id = client.describe_endpoint(Name="prod")["EndpointId"]
    assert error(client.put_events, EndpointId=endpoint_id, Entries=[entry]) == (
        "InvalidStateException",
        "Endpoint prod is in state CREATE_FAILED; only an ACTIVE endpoint routes events.",
    )
    code, message = error(client.put_events, EndpointId="no-dot", Entries=[entry])
    assert code == "ValidationException"
    assert "at 'endpointId' failed to satisfy constraint: Member must satisfy regular expression pattern" in message


async def test_concurrent_changes_get_concurrent_modification(redis_url: str) -> None:
    """Changes that overlap (an update while another is under way) lose with AWS's error, never silently."""
    async with control_api(redis_url) as api:
        await api.ok("CreateEndpoint", endpoint())
        lost: list[str] = []
        for _ in range(20):  # overlapping updates conflict (each reads, checks the buses, then writes); retried
            answers = await asyncio.gather(  # a few times in case a loaded machine serialised one round
                *(api.call("UpdateEndpoint", {"Name": "prod", "Description": f"d{n}"}) for n in range(8))
            )
            outcomes = [_outcome(answer) for answer in answers]
            assert "OK" in outcomes  # one of them always wins
            lost = [outcome for outcome in outcomes if outcome != "OK"]
            if lost:
                break
        assert lost
        assert set(lost) == {
            "ConcurrentModificationException: Endpoint prod is being changed by another request. Retry the request."
        }
        winners = {f"d{n}" for n, answer in enumerate(answers) if answer.status_code == 200}
        described = await api.ok("DescribeEndpoint", {"Name": "prod"})
        assert described["Description"] in winners
        deleted = await asyncio.gather(
            api.call("DeleteEndpoint", {"Name": "prod"}),
            api.call("UpdateEndpoint", {"Name": "prod", "Description": "x"}),
        )
        assert deleted[0].status_code == 200
        assert _outcome(deleted[1]).startswith(("ConcurrentModificationException", "ResourceNotFoundException"))


def _outcome(response: httpx.Response) -> str:
    if response.status_code == 200:
        return "OK"
    body = orjson.loads(response.content)
    return f"{body['__type']}: {body['message']}"


async def test_the_store_reports_a_lost_check_and_set(redis_client: aioredis.Redis) -> None:
    from router.keys import Keys
    from router.namespace import DEFAULT

    store = EndpointStore(redis_client, Keys())
    record = {"Name": "prod", "EndpointId": "abcde12345.veo", "HealthCheckId": "c"}
    assert await store.create(DEFAULT, record, 0) == "OK"
    assert await store.create(DEFAULT, {**record, "Name": "again"}, 0) == "IDTAKEN"
    found = await store.get(DEFAULT, "prod")
    assert found is not None
    assert await store.replace(DEFAULT, "prod", found[1], {**record, "Description": "new"}) == "OK"
    assert await store.replace(DEFAULT, "prod", found[1], None) == "CHANGED"  # what it read is no longer there
    assert await store.replace(DEFAULT, "nope", found[1], None) == "NOTFOUND"
    assert await store.route("abcde12345.veo") == ({**record, "Description": "new"}, "HEALTHY")
    await store.set_health("arn:aws:route53:::healthcheck/c", healthy=False)
    assert await store.route("abcde12345.veo") == ({**record, "Description": "new"}, "UNHEALTHY")
    assert await store.route("other.veo") is None
