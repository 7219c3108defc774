"""Config files in two accounts and regions, seen through real boto3 clients: `switchboard serve --config` applies
each file in the namespace it names, and a client signing for that account and region sees (and routes through)
exactly what its file made, apart from the home namespace's same names. A real uvicorn and real Redis (single and
cluster)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from router.app import create_app
from router.config import load_dir
from router.keys import Keys
from tests.conftest import sync_client
from tests.router.conftest import ServerThread, boto3_client, make_settings
from tests.waiting import eventually_sync

pytestmark = pytest.mark.integration

WEST_ACCOUNT = "111122223333"

FILE = """
buses:
  - name: orders
    description: Orders of {where}
rules:
  - name: placed
    bus: orders
    pattern: {{source: [shop]}}
    targets:
      - Id: q
        Arn: arn:aws:sqs:{region}:{account}:{queue}
archives:
  - name: all
    bus: orders
"""


@pytest.fixture
def configured(redis_url: str, tmp_path: Path) -> Iterator[ServerThread]:
    """A server started with a config directory of two files: the home namespace's and 111122223333/us-west-1's."""
    (tmp_path / "home.yaml").write_text(
        FILE.format(where="home", region="us-east-1", account="123456789012", queue="home-orders")
    )
    west = FILE.format(where="west", region="us-west-1", account=WEST_ACCOUNT, queue="west-orders")
    (tmp_path / "west.yaml").write_text(f"account: '{WEST_ACCOUNT}'\nregion: us-west-1\n{west}")
    server = ServerThread(create_app(make_settings(redis_url), config=load_dir(tmp_path)))
    server.start()
    yield server
    server.stop()


def _bodies(redis_url: str, queue: str) -> list[dict[str, Any]]:
    client = sync_client(redis_url)
    try:
        return [json.loads(fields[b"body"]) for _, fields in client.xrange(Keys().queue(queue))]
    finally:
        client.close()


def test_each_namespace_sees_what_its_file_made(configured: ServerThread, redis_url: str) -> None:
    home = boto3_client(configured.url)
    west = boto3_client(configured.url, region="us-west-1", access_key=WEST_ACCOUNT)
    elsewhere = boto3_client(configured.url, region="us-west-1")  # the home account in us-west-1: no file there

    def buses(client: Any) -> dict[str, str]:
        return {bus["Name"]: bus["Arn"] for bus in client.list_event_buses()["EventBuses"]}

    assert buses(home)["orders"] == "arn:aws:events:us-east-1:123456789012:event-bus/orders"
    assert buses(west) == {
        "default": f"arn:aws:events:us-west-1:{WEST_ACCOUNT}:event-bus/default",
        "orders": f"arn:aws:events:us-west-1:{WEST_ACCOUNT}:event-bus/orders",
    }
    assert "orders" not in buses(elsewhere)
    assert west.describe_event_bus(Name="orders")["Description"] == "Orders of west"
    assert home.describe_event_bus(Name="orders")["Description"] == "Orders of home"
    rules = {rule["Name"]: rule for rule in west.list_rules(EventBusName="orders")["Rules"]}
    assert rules["placed"]["Arn"] == f"arn:aws:events:us-west-1:{WEST_ACCOUNT}:rule/orders/placed"
    assert rules.keys() == {"placed", "Events-Archive-all"}  # and the archive's managed rule
    assert west.list_targets_by_rule(Rule="placed", EventBusName="orders")["Targets"] == [
        {"Id": "q", "Arn": f"arn:aws:sqs:us-west-1:{WEST_ACCOUNT}:west-orders"}
    ]
    archive = west.describe_archive(ArchiveName="all")
    assert archive["EventSourceArn"] == f"arn:aws:events:us-west-1:{WEST_ACCOUNT}:event-bus/orders"
    assert [a["ArchiveName"] for a in elsewhere.list_archives()["Archives"]] == []

    # Routing: an event put in the west goes through the west file's rule to its queue, and only there.
    entry = {"Source": "shop", "DetailType": "OrderPlaced", "Detail": "{}", "EventBusName": "orders"}
    assert west.put_events(Entries=[entry])["FailedEntryCount"] == 0
    (event,) = eventually_sync(lambda: _bodies(redis_url, "west-orders"), what="the west event in its queue")
    assert (event["account"], event["region"]) == (WEST_ACCOUNT, "us-west-1")
    assert home.put_events(Entries=[entry])["FailedEntryCount"] == 0
    (event,) = eventually_sync(lambda: _bodies(redis_url, "home-orders"), what="the home event in its queue")
    assert (event["account"], event["region"]) == ("123456789012", "us-east-1")
    assert len(_bodies(redis_url, "west-orders")) == 1
