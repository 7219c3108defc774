"""The order-to-cash saga, declared as steps: payment, an approval for large orders, inventory, shipping.

    OrderSubmitted -> payment -> [approval, if large] -> inventory -> shipping -> completed (OrderCompleted)

- payment declined (PaymentFailed): nothing to compensate -> `cancelled` (OrderCancelled), no downstream step;
- large orders (amount >= `approval_threshold`) wait for OrderApproved or OrderRejected until a deadline; a rejection
  or the deadline refunds the payment -> `compensated`;
- inventory missing after payment (InventoryUnavailable): refund -> `compensated` (OrderCancelled, refunded);
- shipping provider down (ShipmentFailed): retried with exponential backoff within a bounded window, then the
  inventory is released and the payment refunded, in that order -> `compensated`;
- a step that keeps timing out may have acted (a charge whose answer was lost): it is compensated too, and the
  compensation names the step's idempotency key (`chargeKey`, `reserveKey`, `shipmentKey`) so the service undoes
  it, or makes sure a late arrival of the original command does nothing;
- a refund or release that keeps failing is retried, then the order is parked (OrderNeedsAttention).

Every command carries `idempotencyKey` (`order-to-cash/ORDER/STEP`, the same over retries) and the `saga` member,
which the services copy into their replies. Amounts are integer cents. `Timings` holds every delay, so tests and the
demo run the same definition in seconds instead of hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sagas.context import Context
from sagas.machine import Definition, Publish
from sagas.steps import TIMEOUT_ON, Compensation, Retry, Saga, Step

__all__ = ["NAME", "QUEUE", "Timings", "order_to_cash"]

NAME = "order-to-cash"
QUEUE = "order-saga"
BUS = "orders"
SOURCE = "sagas.order-to-cash"


@dataclass(frozen=True, slots=True)
class Timings:
    reply_timeout_s: float = 30.0
    """How long payment, inventory and shipping may take to answer one command (then it is sent again)."""
    approval_timeout_s: float = 24 * 3600.0
    """The approval's deadline: no answer by then is a rejection."""
    approval_threshold: int = 100_000
    """Orders of this amount (cents) or more wait for an approval."""
    shipping_retry_interval_s: float = 60.0
    shipping_backoff_rate: float = 2.0
    shipping_max_interval_s: float = 600.0
    shipping_window_s: float = 3600.0
    """Shipping is retried for at most this long after its first attempt, then compensated."""
    shipping_max_attempts: int = 30
    compensation_retry_interval_s: float = 30.0
    compensation_max_attempts: int = 5


def _order(ctx: Context) -> None:
    detail = ctx.detail
    ctx.data.update(
        orderId=ctx.id,
        amount=int(detail.get("amount", 0)),
        currency=str(detail.get("currency", "EUR")),
        customer=detail.get("customer"),
        items=list(detail.get("items") or []),
        card=detail.get("card"),
        address=detail.get("address"),
    )


def _charge(ctx: Context) -> dict[str, Any]:
    d = ctx.data
    return {
        "orderId": d["orderId"],
        "amount": d["amount"],
        "currency": d["currency"],
        "card": d["card"],
        "idempotencyKey": ctx.key,
    }


def _paid(ctx: Context) -> None:
    ctx.data["paymentId"] = ctx.detail.get("paymentId")


def _refund(ctx: Context) -> dict[str, Any]:
    d = ctx.data
    return {
        "orderId": d["orderId"],
        "paymentId": d.get("paymentId"),
        "amount": d["amount"],
        "card": d["card"],
        "chargeKey": _step_key(ctx, "payment"),
        "idempotencyKey": _step_key(ctx, "refund"),
    }


def _approval(ctx: Context) -> dict[str, Any]:
    return {"orderId": ctx.data["orderId"], "amount": ctx.data["amount"], "customer": ctx.data["customer"]}


def _reserve(ctx: Context) -> dict[str, Any]:
    return {"orderId": ctx.data["orderId"], "items": ctx.data["items"], "idempotencyKey": ctx.key}


def _reserved(ctx: Context) -> None:
    ctx.data["reservationId"] = ctx.detail.get("reservationId")


def _release(ctx: Context) -> dict[str, Any]:
    d = ctx.data
    return {
        "orderId": d["orderId"],
        "reservationId": d.get("reservationId"),
        "items": d["items"],
        "reserveKey": _step_key(ctx, "inventory"),
        "idempotencyKey": _step_key(ctx, "release"),
    }


def _cancel_shipment(ctx: Context) -> dict[str, Any]:
    d = ctx.data
    return {
        "orderId": d["orderId"],
        "items": d["items"],
        "shipmentKey": _step_key(ctx, "shipping"),
        "idempotencyKey": _step_key(ctx, "cancel-shipment"),
    }


def _step_key(ctx: Context, step: str) -> str:
    """The idempotency key a step's command carried (`ctx.key` in that step), for the compensation to name."""
    return f"{ctx.saga}/{ctx.id}/{step}"


def _ship(ctx: Context) -> dict[str, Any]:
    d = ctx.data
    return {"orderId": d["orderId"], "items": d["items"], "address": d["address"], "idempotencyKey": ctx.key}


def _shipped(ctx: Context) -> None:
    ctx.data["trackingId"] = ctx.detail.get("trackingId")


def _completed(ctx: Context) -> dict[str, Any]:
    d = ctx.data
    return {"orderId": d["orderId"], "amount": d["amount"], "trackingId": d.get("trackingId")}


def _cancelled(refunded: bool) -> Any:
    def detail(ctx: Context) -> dict[str, Any]:
        failed = [name for name, step in ctx.instance.steps.items() if step.get("status") == "failed"]
        return {
            "orderId": ctx.data["orderId"],
            "amount": ctx.data["amount"],
            "refunded": refunded,
            "failedStep": failed[0] if failed else None,
        }

    return detail


def _attention(ctx: Context) -> dict[str, Any]:
    return {"orderId": ctx.data["orderId"], "state": ctx.state}


def order_to_cash(
    timings: Timings = Timings(), *, name: str = NAME, queue: str = QUEUE, bus: str = BUS, shards: int = 8
) -> Definition:
    t = timings
    reply_retry = Retry(on=[TIMEOUT_ON], max_attempts=3, interval_s=0.0)

    def compensation_retry() -> Retry:
        return Retry(max_attempts=t.compensation_max_attempts, interval_s=t.compensation_retry_interval_s)

    def large(data: Mapping[str, Any]) -> bool:
        return int(data.get("amount", 0)) >= t.approval_threshold

    def pub(detail_type: str, detail: Any) -> Publish:
        return Publish(detail_type, detail, source=SOURCE, bus=bus)

    return Saga(
        name=name,
        queue=queue,
        bus=bus,
        source=SOURCE,
        shards=shards,
        correlate="detail.orderId",
        start="OrderSubmitted",
        init=_order,
        description="An order is charged, approved when large, reserved and shipped; failures are compensated.",
        steps=[
            Step(
                "payment",
                send=pub("ChargePayment", _charge),
                succeed_on=["PaymentSucceeded"],
                fail_on=["PaymentFailed"],
                timeout_s=t.reply_timeout_s,
                retry=reply_retry,
                record=_paid,
                compensate=Compensation(
                    pub("RefundPayment", _refund),
                    succeed_on=["PaymentRefunded"],
                    fail_on=["RefundFailed"],
                    timeout_s=t.reply_timeout_s,
                    retry=compensation_retry(),
                ),
                description="charge the customer's card",
            ),
            Step(
                "approval",
                when=large,
                when_label="large order",
                send=pub("ApprovalRequested", _approval),
                succeed_on=["OrderApproved"],
                fail_on=["OrderRejected"],
                timeout_s=t.approval_timeout_s,
                wait=True,
                description="a person approves large orders before the deadline",
            ),
            Step(
                "inventory",
                send=pub("ReserveInventory", _reserve),
                succeed_on=["InventoryReserved"],
                fail_on=["InventoryUnavailable"],
                timeout_s=t.reply_timeout_s,
                retry=reply_retry,
                record=_reserved,
                compensate=Compensation(
                    pub("ReleaseInventory", _release),
                    succeed_on=["InventoryReleased"],
                    timeout_s=t.reply_timeout_s,
                    retry=compensation_retry(),
                ),
                description="reserve the items",
            ),
            Step(
                "shipping",
                send=pub("CreateShipment", _ship),
                succeed_on=["ShipmentCreated"],
                timeout_s=t.reply_timeout_s,
                retry=Retry(
                    on=["ShipmentFailed", TIMEOUT_ON],
                    max_attempts=t.shipping_max_attempts,
                    interval_s=t.shipping_retry_interval_s,
                    backoff_rate=t.shipping_backoff_rate,
                    max_interval_s=t.shipping_max_interval_s,
                    window_s=t.shipping_window_s,
                ),
                record=_shipped,
                compensate=Compensation(
                    pub("CancelShipment", _cancel_shipment),
                    succeed_on=["ShipmentCancelled"],
                    timeout_s=t.reply_timeout_s,
                    retry=compensation_retry(),
                ),
                description="ask the carrier for a label",
            ),
        ],
        on_completed=[pub("OrderCompleted", _completed)],
        on_compensated=[pub("OrderCancelled", _cancelled(True))],
        on_cancelled=[pub("OrderCancelled", _cancelled(False))],
        on_parked=[pub("OrderNeedsAttention", _attention)],
    ).compile()
