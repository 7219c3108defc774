"""The `/ui/sagas` pages in headless Chromium against a real router, after a real demo run: saga types -> a type's
definition drawn as a diagram with its instances (filtered by status) -> an instance's timeline and path, then
finding an order by id; missing things are 404 pages. Asserts what a person sees, against what Redis holds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser import screenshot
from tests.conftest import sync_client

pytestmark = pytest.mark.integration

SAGA = "order-to-cash"


def _history_length(redis_url: str, instance_id: str) -> int:
    from sagas.keys import SagaKeys, instance_key

    length: Any = sync_client(redis_url).llen(SagaKeys().history(SAGA, instance_key(instance_id)))
    return int(length)


def test_types_definition_diagram_instances_timeline_and_finding_an_order(
    page: Any, sagas_server: Any, demo: dict[str, Any], redis_url: str, tmp_path: Path
) -> None:
    states = demo["final_states"]
    page.goto(f"{sagas_server.url}/ui/")
    page.get_by_role("link", name="Sagas").first.click()
    assert page.get_by_role("heading", level=1).inner_text() == "Sagas"
    rows = page.locator("table tbody tr")
    assert rows.count() == 1
    assert rows.first.locator("td").first.inner_text() == SAGA
    badges = rows.first.locator(".statuses .badge").all_inner_texts()
    assert badges == [f"{n} {s}" for s, n in states.items() if n] or sorted(badges) == sorted(
        f"{n} {s}" for s, n in states.items()
    )
    screenshot(page, tmp_path, "sagas-types")

    page.get_by_role("link", name=SAGA, exact=True).click()
    assert page.get_by_role("heading", level=1).inner_text() == SAGA
    diagram = page.locator(".diagram-panel svg.saga-diagram").first
    assert diagram.is_visible()
    drawn = diagram.locator("g.state")
    assert drawn.count() == 14  # the start and the 13 states of the definition
    assert diagram.locator('g.state[data-state="payment"] text').first.text_content() == "payment"
    assert diagram.locator('g.state[data-state="compensate:payment"]').get_attribute("data-status") == "COMPENSATING"
    edge = diagram.locator('g.edge[data-from="payment"][data-to="inventory"]')
    assert edge.locator("title").text_content() == "payment → inventory: PaymentSucceeded"
    per_state = page.locator("#per-state tbody tr")
    counted = {r.locator("td").nth(0).inner_text(): int(r.locator("td").nth(1).inner_text()) for r in per_state.all()}
    assert sum(counted.values()) == 12
    assert counted.get("completed", 0) == states.get("COMPLETED", 0)
    assert page.locator("#instances tbody tr").count() == 12
    screenshot(page, tmp_path, "sagas-definition")
    shots = os.environ.get("SWITCHBOARD_SCREENSHOTS_DIR")
    if shots:  # the whole diagram, which is taller than the screen
        page.locator(".diagram-panel").first.screenshot(path=str(Path(shots) / "sagas-diagram.png"))

    page.get_by_label("Status or state").select_option("COMPENSATED")
    page.get_by_role("button", name="Show").click()
    listed = page.locator("#instances tbody tr")
    assert listed.count() == states["COMPENSATED"]
    assert set(page.locator("#instances tbody tr td:nth-child(2)").all_inner_texts()) == {"COMPENSATED"}

    first = listed.first.locator("td a")
    instance_id = first.inner_text()
    first.click()
    assert page.get_by_role("heading", level=1).inner_text() == instance_id
    assert page.locator("#where .badge").inner_text() == "COMPENSATED"
    timeline = page.locator("#timeline li")
    assert timeline.count() == _history_length(redis_url, instance_id)
    assert " ".join(timeline.first.inner_text().split()).startswith("+0.000 s OrderSubmitted (start) → payment")
    assert "sent OrderCancelled" in timeline.last.inner_text()
    path = page.locator(".diagram-panel svg.saga-diagram")
    assert path.locator("g.state.current").get_attribute("data-state") == "compensated"
    taken = path.locator("g.edge.taken")
    assert taken.count() >= 3
    assert path.locator('g.edge.taken[data-from="(start)"][data-to="payment"]').count() == 1
    steps = page.locator("#steps tbody tr td:first-child").all_inner_texts()
    assert steps[0] == "payment"
    assert page.locator("#pending").inner_text().startswith("No timer.")
    screenshot(page, tmp_path, "sagas-instance")

    # where is this order? found by id (the same demo run: one run per Redis kind keeps the suite short)
    order_id = "o-9-000003"
    page.goto(f"{sagas_server.url}/ui/sagas")
    page.get_by_role("searchbox", name="Find an instance").fill(order_id)
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(f"**/ui/sagas/instance?type={SAGA}&id={order_id}")
    assert page.get_by_role("heading", level=1).inner_text() == order_id

    page.goto(f"{sagas_server.url}/ui/sagas?id={quote('no-such-order')}")
    assert page.locator("#not-found").inner_text() == "No saga instance has the id “no-such-order”."
    response = page.goto(f"{sagas_server.url}/ui/sagas/type?name=nope")
    assert response.status == 404
    assert page.locator(".lead").inner_text() == "Saga type nope does not exist."
    response = page.goto(f"{sagas_server.url}/ui/sagas/instance?type={SAGA}&id=nope")
    assert response.status == 404
    assert page.locator(".lead").inner_text() == f"Instance nope of saga type {SAGA} does not exist."
