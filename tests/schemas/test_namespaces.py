"""Schemas registries, schemas, policies and discovery in (account, region) namespaces, with real boto3 clients
against a real uvicorn and redis-server (single and cluster): the same registry name in two regions and two accounts
is three registries with their own ARNs, schemas and listings; the built-in registries are per namespace; a
discoverer on a bus of another namespace writes into that namespace's `discovered-schemas` and announces the new
version on that bus; the keys left behind (schemas.keys: bare names at home, `ACCOUNT@REGION@NAME` elsewhere)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import pytest
from botocore.exceptions import ClientError

from router.keys import Keys
from tests.conftest import sync_client
from tests.router.conftest import ServerThread, boto3_client
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

HOME = "123456789012"
OTHER = "111122223333"
KEYS = Keys()
NAMESPACES = ((HOME, "us-east-1"), (HOME, "us-west-1"), (OTHER, "us-west-1"))
CONTENT = '{"openapi": "3.0.0", "info": {"title": "T", "version": "1"}, "paths": {}}'


def _client(server: ServerThread, service: str, account: str, region: str) -> Any:
    access_key = "testing" if account == HOME else account  # the home account: the usual test credentials
    return boto3_client(server.url, service, region=region, access_key=access_key)


def _error(call: Any, **kwargs: Any) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def _scoped(account: str, region: str, name: str) -> str:
    return name if (account, region) == (HOME, "us-east-1") else f"{account}@{region}@{name}"


def test_registries_schemas_and_policies_are_per_namespace(schemas_server: ServerThread, redis_url: str) -> None:
    clients = {ns: _client(schemas_server, "schemas", *ns) for ns in NAMESPACES}
    for (account, region), schemas in clients.items():
        created = schemas.create_registry(RegistryName="shop", Description=f"{account} {region}")
        assert created["RegistryArn"] == f"arn:aws:schemas:{region}:{account}:registry/shop"
        schemas.create_schema(
            RegistryName="shop", SchemaName=f"only-{region}", Type="OpenApi3", Content=CONTENT, Description=account
        )
    for (account, region), schemas in clients.items():
        described = schemas.describe_registry(RegistryName="shop")
        assert (described["Description"], described["RegistryArn"]) == (
            f"{account} {region}",
            f"arn:aws:schemas:{region}:{account}:registry/shop",
        )
        listed = schemas.list_registries()["Registries"]
        assert [(r["RegistryName"], r["RegistryArn"]) for r in listed] == [
            (name, f"arn:aws:schemas:{region}:{account}:registry/{name}")
            for name in ("aws.events", "discovered-schemas", "shop")
        ]
        found = schemas.list_schemas(RegistryName="shop")["Schemas"]
        assert [(s["SchemaName"], s["SchemaArn"]) for s in found] == [
            (f"only-{region}", f"arn:aws:schemas:{region}:{account}:schema/shop/only-{region}")
        ]
        schema = schemas.describe_schema(RegistryName="shop", SchemaName=f"only-{region}")
        assert schema["Description"] == account
        arn = described["RegistryArn"]
        schemas.tag_resource(ResourceArn=arn, Tags={"at": region})
        assert schemas.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"at": region}

    east, west, other = (clients[ns] for ns in NAMESPACES)
    assert _error(west.describe_schema, RegistryName="shop", SchemaName="only-us-east-1") == (
        404,
        "NotFoundException",
        "Schema with name only-us-east-1 does not exist in registry shop.",
    )
    # another namespace's ARN names nothing of the caller's
    other_arn = f"arn:aws:schemas:us-west-1:{OTHER}:registry/shop"
    assert _error(east.list_tags_for_resource, ResourceArn=other_arn)[:2] == (404, "NotFoundException")
    # account-level resource policies are per namespace too
    policy = json.dumps({"Version": "2012-10-17", "Statement": []})
    other.put_resource_policy(Policy=policy)
    assert json.loads(other.get_resource_policy()["Policy"]) == json.loads(policy)
    assert _error(east.get_resource_policy)[:2] == (404, "NotFoundException")
    # the key layout's namespaced form is no registry name
    assert _error(east.create_registry, RegistryName=f"{OTHER}@us-west-1@shop") == (
        400,
        "BadRequestException",
        f"Invalid registry name '{OTHER}@us-west-1@shop': a name of the form ACCOUNT@REGION@NAME is reserved (it "
        "names a registry of that account and region in Switchboard's key layout).",
    )
    east.create_registry(RegistryName="partner@Example")  # `@` elsewhere is still a registry name

    west.delete_schema(RegistryName="shop", SchemaName="only-us-west-1")
    west.delete_registry(RegistryName="shop")
    assert [r["RegistryName"] for r in west.list_registries()["Registries"]] == ["aws.events", "discovered-schemas"]
    assert east.describe_registry(RegistryName="shop")["Description"] == f"{HOME} us-east-1"

    client = sync_client(redis_url)
    try:
        registry = {field.decode() for field in client.hkeys("sb:{schemas}:registries")}
        assert registry == {"shop", "partner@Example", f"{OTHER}@us-west-1@shop"}
        assert client.hkeys(f"sb:{{registry:{OTHER}@us-west-1@shop}}:schemas") == [b"only-us-west-1"]
        assert client.exists(f"sb:{{registry:{HOME}@us-west-1@shop}}:schemas") == 0
        assert client.exists(f"sb:{{schemas}}:policy:{OTHER}@us-west-1") == 1
        assert client.exists("sb:{schemas}:policy") == 0
    finally:
        client.close()


def _discovered(schemas: Any) -> list[str]:
    return [s["SchemaName"] for s in schemas.list_schemas(RegistryName="discovered-schemas")["Schemas"]]


def test_a_discoverer_writes_into_its_buses_namespace(schemas_server: ServerThread, redis_url: str) -> None:
    """The same bus name at home and in another account's us-west-1, each with a discoverer: each namespace's
    events become that namespace's discovered schemas, announced on that namespace's bus."""
    for account, region in (NAMESPACES[0], NAMESPACES[2]):
        events = _client(schemas_server, "events", account, region)
        schemas = _client(schemas_server, "schemas", account, region)
        events.create_event_bus(Name="orders")
        versions = f"arn:aws:sqs:{region}:{account}:versions"
        events.put_rule(Name="versions", EventBusName="orders", EventPattern=json.dumps({"source": ["aws.schemas"]}))
        events.put_targets(Rule="versions", EventBusName="orders", Targets=[{"Id": "q", "Arn": versions}])
        bus_arn = f"arn:aws:events:{region}:{account}:event-bus/orders"
        created = schemas.create_discoverer(SourceArn=bus_arn)
        assert (created["DiscovererId"], created["DiscovererArn"]) == (
            "events-event-bus-orders",
            f"arn:aws:schemas:{region}:{account}:discoverer/events-event-bus-orders",
        )
        assert [d["SourceArn"] for d in schemas.list_discoverers()["Discoverers"]] == [bus_arn]
        assert events.describe_rule(Name="Schemas-events-event-bus-orders", EventBusName="orders")["Arn"] == (
            f"arn:aws:events:{region}:{account}:rule/orders/Schemas-events-event-bus-orders"
        )
        source = f"shop-{account}"
        entry = {"EventBusName": "orders", "Source": source, "DetailType": "Order Created", "Detail": '{"n": 1}'}
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0

    home = _client(schemas_server, "schemas", *NAMESPACES[0])
    other = _client(schemas_server, "schemas", *NAMESPACES[2])
    eventually_sync(lambda: _discovered(other) == [f"shop-{OTHER}@OrderCreated"], what="the other namespace's schema")
    eventually_sync(lambda: _discovered(home) == [f"shop-{HOME}@OrderCreated"], what="the home namespace's schema")
    found = other.describe_schema(RegistryName="discovered-schemas", SchemaName=f"shop-{OTHER}@OrderCreated")
    assert found["SchemaArn"] == (
        f"arn:aws:schemas:us-west-1:{OTHER}:schema/discovered-schemas/shop-{OTHER}@OrderCreated"
    )
    assert _discovered(_client(schemas_server, "schemas", *NAMESPACES[1])) == []

    client = sync_client(redis_url)
    try:

        def announced(account: str, region: str) -> list[dict[str, Any]]:
            entries: Any = client.xrange(KEYS.queue(_scoped(account, region, "versions")))
            return [json.loads(fields[b"body"]) for _, fields in entries]

        for account, region in (NAMESPACES[0], NAMESPACES[2]):
            [event] = eventually_sync(partial(announced, account, region), what=f"{account} {region} version")
            assert (event["detail-type"], event["account"], event["region"]) == (
                "Schema Version Created",
                account,
                region,
            )
            assert event["detail"]["SchemaName"] == f"shop-{account}@OrderCreated"
            assert event["resources"] == [
                f"arn:aws:schemas:{region}:{account}:schema/discovered-schemas/shop-{account}@OrderCreated"
            ]
        fields = {field.decode() for field in client.hkeys("sb:{schemas}:discoverers")}
        assert fields == {"events-event-bus-orders", f"{OTHER}@us-west-1@events-event-bus-orders"}
        assert client.hkeys(f"sb:{{registry:{OTHER}@us-west-1@discovered-schemas}}:schemas") == [
            f"shop-{OTHER}@OrderCreated".encode()
        ]
    finally:
        client.close()
