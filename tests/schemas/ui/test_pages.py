"""The browse pages in headless Chromium against a real server: registries -> schemas (search) -> a schema's
versions -> the diff, and the code binding's copy button, asserting what a person sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser import screenshot

pytestmark = pytest.mark.integration


def openapi(title: str, source: str, detail: dict[str, Any]) -> str:
    return json.dumps(
        {
            "openapi": "3.0.0",
            "info": {"version": "1.0.0", "title": title},
            "paths": {},
            "components": {
                "schemas": {
                    "AWSEvent": {
                        "type": "object",
                        "required": ["detail", "detail-type", "source", "time"],
                        "x-amazon-events-source": source,
                        "x-amazon-events-detail-type": title,
                        "properties": {
                            "detail": {"$ref": f"#/components/schemas/{title}"},
                            "detail-type": {"type": "string"},
                            "source": {"type": "string"},
                            "time": {"type": "string", "format": "date-time"},
                        },
                    },
                    title: {"type": "object", "properties": detail},
                }
            },
        }
    )


V1 = {"orderId": {"type": "string"}, "total": {"type": "integer", "format": "int64"}}
V2 = {"orderId": {"type": "string"}, "total": {"type": "number"}, "currency": {"type": "string"}}


@pytest.fixture
def registry(schemas: Any) -> str:
    schemas.create_registry(RegistryName="orders", Description="Events of the order service")
    name = "shop.orders@OrderCreated"
    schemas.create_schema(
        RegistryName="orders", SchemaName=name, Type="OpenApi3", Content=openapi("OrderCreated", "shop.orders", V1)
    )
    schemas.update_schema(RegistryName="orders", SchemaName=name, Content=openapi("OrderCreated", "shop.orders", V2))
    for title in ("OrderShipped", "RefundIssued"):
        schemas.create_schema(
            RegistryName="orders",
            SchemaName=f"shop.orders@{title}",
            Type="OpenApi3",
            Content=openapi(title, "shop.orders", V1),
        )
    return "orders"


def test_registries_schemas_versions_and_diff(page: Any, schemas_server: Any, registry: str, tmp_path: Path) -> None:
    page.goto(f"{schemas_server.url}/ui/")
    page.get_by_role("link", name="Schemas").first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Schema registries"
    rows = page.locator("table tbody tr")
    assert [rows.nth(i).locator("td").first.inner_text() for i in range(rows.count())] == [
        "aws.events",
        "discovered-schemas",
        "orders",
    ]
    assert "Events of the order service" in rows.nth(2).inner_text()
    screenshot(page, tmp_path, "schemas-registries")

    page.get_by_role("link", name="orders", exact=True).click()
    links = page.locator("table tbody tr td:first-child")
    assert links.all_inner_texts() == [
        "shop.orders@OrderCreated",
        "shop.orders@OrderShipped",
        "shop.orders@RefundIssued",
    ]
    page.get_by_role("searchbox", name="Search schemas").fill("created")
    page.get_by_role("button", name="Search").click()
    assert links.all_inner_texts() == ["shop.orders@OrderCreated"]
    page.get_by_role("searchbox", name="Search schemas").fill("nothing-like-this")
    page.get_by_role("button", name="Search").click()
    assert page.locator("table tbody").inner_text().strip() == "No schema matches “nothing-like-this”."
    page.get_by_role("searchbox", name="Search schemas").fill("created")
    page.get_by_role("button", name="Search").click()
    screenshot(page, tmp_path, "schemas-registry")

    page.get_by_role("link", name="shop.orders@OrderCreated").click()
    assert page.get_by_role("heading", level=1).inner_text() == "shop.orders@OrderCreated"
    versions = page.locator(".versions a")
    assert versions.all_inner_texts() == ["Version 1", "Version 2", "Compare with version 1"]
    assert page.locator('.versions a[aria-current="true"]').inner_text() == "Version 2"
    tree = page.locator("ul.tree li")
    fields = [" ".join(text.split()) for text in tree.all_inner_texts()]
    assert fields[:4] == ["detail OrderCreated required", "orderId string", "total number", "currency string"]
    sample = json.loads(page.locator("#sample").inner_text())
    assert (sample["source"], sample["detail-type"]) == ("shop.orders", "OrderCreated")
    assert sample["detail"] == {"orderId": "orderId", "total": 0, "currency": "currency"}

    page.get_by_role("link", name="Version 1", exact=True).click()
    fields = [" ".join(text.split()) for text in tree.all_inner_texts()]
    assert "total integer (int64)" in fields
    assert not any(field.startswith("currency") for field in fields)

    page.get_by_role("link", name="Version 2", exact=True).click()
    page.get_by_role("link", name="Compare with version 1").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Version 1 → version 2"
    assert page.locator("#summary span").all_inner_texts() == ["+ 1 added", "\u2212 0 removed", "~ 1 changed"]
    assert page.locator("ul.tree li.added .name").all_inner_texts() == ["currency"]
    changed = page.locator("ul.tree li.changed")
    assert " ".join(changed.inner_text().split()) == "~ total number (was integer (int64))"
    screenshot(page, tmp_path, "schemas-diff")


def test_code_binding_is_generated_and_copied(page: Any, schemas_server: Any, registry: str, tmp_path: Path) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"{schemas_server.url}/ui/schemas/schema?registry=orders&name=shop.orders%40OrderCreated")
    copy = page.get_by_role("button", name="Copy code")
    copy.wait_for(timeout=90_000)  # generation runs in the background; the page reloads until it is done
    code = page.locator("#binding-code").inner_text()
    assert "class OrderCreated(BaseModel):" in code
    assert "detail_type: str | None = Field(None, alias='detail-type')" in code or "alias='detail-type'" in code
    copy.click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == code
    screenshot(page, tmp_path, "schemas-schema")


def test_missing_things_are_404_pages(page: Any, schemas_server: Any) -> None:
    response = page.goto(f"{schemas_server.url}/ui/schemas/registry?name=nope")
    assert response.status == 404
    assert page.locator(".lead").inner_text() == "Registry nope does not exist."
    response = page.goto(f"{schemas_server.url}/ui/schemas/schema?registry=orders&name=x")
    assert response.status == 404
