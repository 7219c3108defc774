"""The order-to-cash saga's decisions, scenario by scenario, in memory (sagas.testing.Harness: no Redis)."""

from __future__ import annotations

from sagas import CANCELLED, COMPENSATED, COMPLETED, PARKED, WAITING
from sagas.examples.order_to_cash import Timings, order_to_cash
from sagas.testing import Harness, make_event

T = Timings(
    reply_timeout_s=10,
    approval_timeout_s=60,
    shipping_retry_interval_s=1,
    shipping_window_s=20,
    shipping_max_interval_s=8,
    compensation_retry_interval_s=2,
    compensation_max_attempts=3,
)


def submit(h: Harness, order: str = "o-1", amount: int = 2_000) -> None:
    h.deliver(
        make_event(
            "OrderSubmitted",
            "shop.orders",
            orderId=order,
            amount=amount,
            currency="EUR",
            customer="c-1",
            items=[{"sku": "book", "qty": 1}],
            card="ok",
            address="x",
        )
    )


def test_happy_path() -> None:
    h = Harness(order_to_cash(T))
    submit(h)
    assert h.instance("o-1").state == "payment"
    h.reply("PaymentSucceeded", paymentId="p-1")
    h.reply("InventoryReserved", reservationId="r-1")
    h.reply("ShipmentCreated", trackingId="t-1")
    inst = h.instance("o-1")
    assert inst.status == COMPLETED
    assert inst.state == "completed"
    assert h.sent_types() == ["ChargePayment", "ReserveInventory", "CreateShipment", "OrderCompleted"]
    assert h.last_sent()["detail"]["trackingId"] == "t-1"
    assert h.pending_timers("o-1") == []
    assert [s["status"] for s in inst.steps.values()] == ["done", "done", "done"]


def test_payment_declined_cancels_without_downstream_steps() -> None:
    h = Harness(order_to_cash(T))
    submit(h)
    h.reply("PaymentFailed", reason="card declined")
    inst = h.instance("o-1")
    assert (inst.status, inst.state) == (CANCELLED, "cancelled")
    assert h.sent_types() == ["ChargePayment", "OrderCancelled"]
    assert h.last_sent()["detail"]["refunded"] is False


def test_inventory_missing_refunds_then_cancels() -> None:
    h = Harness(order_to_cash(T))
    submit(h)
    h.reply("PaymentSucceeded", paymentId="p-1")
    h.reply("InventoryUnavailable")
    assert h.instance("o-1").state == "compensate:payment"
    refund = h.last_sent()
    assert refund["detail_type"] == "RefundPayment"
    assert refund["detail"]["paymentId"] == "p-1"
    h.reply("PaymentRefunded")
    inst = h.instance("o-1")
    assert (inst.status, inst.state) == (COMPENSATED, "compensated")
    assert h.sent_types() == ["ChargePayment", "ReserveInventory", "RefundPayment", "OrderCancelled"]


def test_shipping_down_retries_with_backoff_in_its_window_then_compensates_in_reverse() -> None:
    h = Harness(order_to_cash(T))
    submit(h)
    h.reply("PaymentSucceeded", paymentId="p-1")
    h.reply("InventoryReserved", reservationId="r-1")
    delays = []
    for _ in range(10):
        if h.instance("o-1").state != "shipping":
            break
        h.reply("ShipmentFailed", reason="provider down")
        timer = h.timers.get(("o-1", "retry"))
        if timer is None:
            break
        delays.append((timer[0] - h.now_ms) / 1000)
        h.advance(delays[-1])
    assert delays == [1, 2, 4, 8]  # the next (8 s, capped) would start after the 20 s window
    assert h.instance("o-1").state == "compensate:inventory"
    assert h.sent_types().count("CreateShipment") == 5
    h.reply("InventoryReleased")
    assert h.instance("o-1").state == "compensate:payment"
    h.reply("PaymentRefunded")
    assert h.instance("o-1").status == COMPENSATED
    assert h.sent_types()[-3:] == ["ReleaseInventory", "RefundPayment", "OrderCancelled"]


def test_a_retried_shipment_succeeds_within_the_window() -> None:
    h = Harness(order_to_cash(T))
    submit(h)
    h.reply("PaymentSucceeded", paymentId="p-1")
    h.reply("InventoryReserved", reservationId="r-1")
    h.reply("ShipmentFailed")
    h.advance(1)
    h.reply("ShipmentCreated", trackingId="t-9")
    assert h.instance("o-1").status == COMPLETED
    assert h.instance("o-1").steps["shipping"]["attempts"] == 2


def test_large_order_waits_for_approval_and_continues_when_approved() -> None:
    h = Harness(order_to_cash(T))
    submit(h, amount=500_000)
    h.reply("PaymentSucceeded", paymentId="p-1")
    inst = h.instance("o-1")
    assert (inst.state, inst.status) == ("approval", WAITING)
    assert h.pending_timers("o-1") == ["timeout"]
    h.deliver(make_event("OrderApproved", "shop.approvals", orderId="o-1", approver="ann"))  # no token: by order id
    h.reply("InventoryReserved", reservationId="r-1")
    h.reply("ShipmentCreated", trackingId="t-1")
    assert h.instance("o-1").status == COMPLETED


def test_large_order_rejected_or_past_its_deadline_is_refunded() -> None:
    for ending in ("rejected", "deadline"):
        h = Harness(order_to_cash(T))
        submit(h, amount=500_000)
        h.reply("PaymentSucceeded", paymentId="p-1")
        if ending == "rejected":
            h.reply("OrderRejected", approver="bob")
        else:
            h.advance(59)
            assert h.instance("o-1").state == "approval"
            h.advance(1)
        assert h.instance("o-1").state == "compensate:payment", ending
        h.reply("PaymentRefunded")
        assert h.instance("o-1").status == COMPENSATED
        assert "ReserveInventory" not in h.sent_types()


def test_small_orders_skip_the_approval() -> None:
    h = Harness(order_to_cash(T))
    submit(h, amount=99_999)
    h.reply("PaymentSucceeded", paymentId="p-1")
    assert h.instance("o-1").state == "inventory"


def test_a_failing_refund_is_retried_then_parked_and_resumed() -> None:
    h = Harness(order_to_cash(T))
    submit(h)
    h.reply("PaymentSucceeded", paymentId="p-1")
    h.reply("InventoryUnavailable")
    for delay_s in (2, 4):  # compensation_retry_interval_s, doubled
        h.reply("RefundFailed")
        assert h.timers[("o-1", "retry")][0] == h.now_ms + delay_s * 1000
        h.advance(delay_s)
    assert h.instance("o-1").attempts["compensate:payment"] == 3
    h.reply("RefundFailed")
    inst = h.instance("o-1")
    assert (inst.state, inst.status) == ("parked:payment", PARKED)
    assert h.last_sent()["detail_type"] == "OrderNeedsAttention"
    h.control("o-1", "resume")
    assert h.instance("o-1").state == "compensate:payment"
    assert h.instance("o-1").attempts["compensate:payment"] == 1
    h.reply("PaymentRefunded")
    assert h.instance("o-1").status == COMPENSATED


def test_duplicates_and_replays_never_repeat_a_side_effect() -> None:
    h = Harness(order_to_cash(T))
    start = make_event("OrderSubmitted", "shop.orders", orderId="o-1", amount=10, items=[], card="ok")
    h.deliver(start, delivery_id="d-1")
    assert h.deliver(start, delivery_id="d-1") is None  # the same delivery twice
    assert h.deliver(start, delivery_id="d-2") is None  # the same event again (a replay keeps its id)
    charge = h.last_sent()
    h.reply("PaymentSucceeded", to=charge, paymentId="p-1")
    assert h.reply("PaymentSucceeded", to=charge, paymentId="p-1") is None  # a service published its reply twice
    assert h.sent_types() == ["ChargePayment", "ReserveInventory"]
    assert h.duplicates == 3


def test_a_reply_to_an_earlier_attempt_is_stale() -> None:
    h = Harness(order_to_cash(T))
    submit(h)
    first = h.last_sent()
    h.advance(10)  # no answer: the charge is sent again (same idempotency key, new message id)
    second = h.last_sent()
    assert second["id"] != first["id"]
    assert second["detail"]["idempotencyKey"] == first["detail"]["idempotencyKey"]
    decision = h.reply("PaymentFailed", to=first)
    assert decision is not None
    assert decision.outcome == "stale"
    assert h.instance("o-1").state == "payment"
    h.reply("PaymentSucceeded", to=second, paymentId="p-1")
    assert h.instance("o-1").state == "inventory"


def test_events_after_the_end_are_ignored_and_recorded() -> None:
    h = Harness(order_to_cash(T))
    submit(h)
    h.reply("PaymentFailed")
    decision = h.deliver(make_event("OrderApproved", orderId="o-1"))
    assert decision is not None
    assert decision.outcome == "ignored"
    assert h.history["o-1"][-1]["outcome"] == "ignored"


def test_uncorrelated_and_unknown_events_start_nothing() -> None:
    h = Harness(order_to_cash(T))
    assert h.deliver(make_event("OrderSubmitted", amount=1)) is None  # no orderId
    decision = h.deliver(make_event("PaymentSucceeded", orderId="o-404"))
    assert decision is not None
    assert decision.outcome == "orphan"
    assert h.instances == {}
