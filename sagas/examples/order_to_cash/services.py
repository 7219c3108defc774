"""The order-to-cash services: payment, inventory, shipping and an approver, each a small async consumer of its own
queue that answers on the bus through PutEvents. Each owns its data (a ledger in its own Redis hash slot).

They behave like the services a saga talks to in production, including the ways those fail, picked by the order's
own fields the way payment gateways pick test behaviour by card number:

| field | value | what the service does |
|---|---|---|
| `card` | `declined` | payment: PaymentFailed (card declined) |
| `card` | `lost-reply` | payment: charges on the first attempt but the answer is lost (the saga asks again) |
| `card` | `refund-fails:N` | payment: the first N refund attempts answer RefundFailed |
| item `sku` | `out-of-stock` | inventory: InventoryUnavailable |
| `address` | `provider-down:N` | shipping: the carrier is down for the first N attempts (ShipmentFailed) |
| `customer` | `reject-*` / `absent-*` | approver: OrderRejected / never answers (the deadline passes) |
| `customer` | `duplicate-*` | every service publishes each answer twice (a duplicate the saga must drop) |

Every command is idempotent by its `idempotencyKey`: a ledger script records the outcome under the key, and a
command seen again gets the recorded answer, never a second effect. A compensation names the key of the command
it undoes (`chargeKey`, `reserveKey`, `shipmentKey`); when that command has not arrived yet (it is late), the key is
voided, so the late command does nothing. A command is acknowledged only after its answer is published, so a
crash in between publishes the (same) answer again. Replies copy the command's `saga` member.

Ledgers (key prefix `sb`, one hash tag per service):

| key | what |
|---|---|
| `sb:{o2c:payment}:charges` | charge key -> `ok:<paymentId>`, `declined` or `void` |
| `sb:{o2c:payment}:refunds` | refund key -> `ok` |
| `sb:{o2c:payment}:ledger` | `charged`, `refunded` (cents), `charges`, `refunds` (counts) |
| `sb:{o2c:payment}:per-order` | order id -> number of real charges (more than 1 would be a double charge) |
| `sb:{o2c:inventory}:reservations`, `:releases`, `:ledger` | likewise, `reserved` / `released` units |
| `sb:{o2c:shipping}:shipments`, `:cancellations`, `:ledger` | likewise, `shipped` / `cancelled` units |
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from router.keys import Keys
from sagas.batching import Coalescer, ScriptCall
from sagas.consumer import ConsumerOptions, QueueConsumer, QueueMessage
from sagas.publish import EventEntry, Publisher

__all__ = ["SERVICE_QUEUES", "SOURCES", "Ledgers", "Services", "ledger_keys"]

log = logging.getLogger("switchboard.sagas.example")

SERVICE_QUEUES = {
    "payment": "payment-commands",
    "inventory": "inventory-commands",
    "shipping": "shipping-commands",
    "approver": "approval-requests",
}
SOURCES = {
    "payment": "shop.payments",
    "inventory": "shop.inventory",
    "shipping": "shop.shipping",
    "approver": "shop.approvals",
}
"""The source of each service's answers (what the example's rules route to the saga)."""

# KEYS: outcomes hash, ledger hash, per-order hash. ARGV: key, order id (or ""), amount, refused (0/1), result on
# success, the ledger fields to add the amount and 1 to.
# Returns the recorded outcome: the existing one, or the new one (a void key stays void).
_ACT = """
local done = redis.call('HGET', KEYS[1], ARGV[1])
if done then return done end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], 'declined')
  return 'declined'
end
redis.call('HINCRBY', KEYS[2], ARGV[6], ARGV[3])
redis.call('HINCRBY', KEYS[2], ARGV[7], 1)
if ARGV[2] ~= '' then redis.call('HINCRBY', KEYS[3], ARGV[2], 1) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[5])
return ARGV[5]
"""

# KEYS: outcomes of the original command, undo outcomes, ledger. ARGV: original key, undo key, amount, the ledger
# fields to add the amount and 1 to.
# Undoes the original's effect once; voids the original key when it has not acted (yet).
_UNDO = """
local done = redis.call('HGET', KEYS[2], ARGV[2])
if done then return done end
local original = redis.call('HGET', KEYS[1], ARGV[1])
if original and string.sub(original, 1, 3) == 'ok:' then
  redis.call('HINCRBY', KEYS[3], ARGV[4], ARGV[3])
  redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
elseif not original then
  redis.call('HSET', KEYS[1], ARGV[1], 'void')
end
redis.call('HSET', KEYS[2], ARGV[2], 'ok')
return 'ok'
"""


def ledger_keys(prefix: str, service: str) -> dict[str, str]:
    tag = f"{prefix}:{{o2c:{service}}}"
    names = {
        "payment": ("charges", "refunds"),
        "inventory": ("reservations", "releases"),
        "shipping": ("shipments", "cancellations"),
    }[service]
    return {
        "act": f"{tag}:{names[0]}",
        "undo": f"{tag}:{names[1]}",
        "ledger": f"{tag}:ledger",
        "per_order": f"{tag}:per-order",
    }


@dataclass(frozen=True, slots=True)
class Ledgers:
    charged: int
    refunded: int
    charges: int
    refunds: int
    max_charges_per_order: int
    reserved: int
    released: int
    shipped: int
    cancelled: int


def _int(value: object) -> int:
    return int(value) if value is not None else 0  # type: ignore[call-overload]


def _units(items: object) -> int:
    if not isinstance(items, list):
        return 0
    return sum(int(i.get("qty", 1)) for i in items if isinstance(i, dict))


def _fault_count(value: object, prefix: str) -> int:
    if isinstance(value, str) and value.startswith(prefix):
        try:
            return int(value[len(prefix) :])
        except ValueError:
            return 0
    return 0


def _stable_id(prefix: str, key: str) -> str:
    return prefix + hashlib.sha256(key.encode()).hexdigest()[:16]


Handler = Callable[[dict[str, Any]], Awaitable[list[tuple[str, dict[str, Any]]]]]


class Services:
    """All four services in one object (one process runs them all in the demo; each could run alone)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        publisher: Publisher,
        *,
        prefix: str = "sb",
        bus: str = "orders",
        options: ConsumerOptions | None = None,
        only: Sequence[str] | None = None,
        batch: Coalescer | None = None,
    ) -> None:
        self.redis = redis
        self.batch = batch or Coalescer(redis)
        """The ledger scripts and the acknowledgements share round trips (sagas.batching)."""
        self.publisher = publisher
        self.prefix = prefix
        self.bus = bus
        self._act = redis.register_script(_ACT)
        self._undo = redis.register_script(_UNDO)
        self.keys = {name: ledger_keys(prefix, name) for name in ("payment", "inventory", "shipping")}
        router_keys = Keys(prefix)
        handlers: dict[str, Handler] = {
            "payment": self._payment,
            "inventory": self._inventory,
            "shipping": self._shipping,
            "approver": self._approver,
        }
        self.consumers = [
            QueueConsumer(
                redis,
                router_keys.queue(queue),
                f"o2c-{name}",
                self._consumer(name, handlers[name]),
                options=options,
                batch=self.batch,
            )
            for name, queue in SERVICE_QUEUES.items()
            if only is None or name in only
        ]

    async def start(self) -> None:
        for consumer in self.consumers:
            await consumer.start()

    async def stop(self) -> None:
        for consumer in self.consumers:
            await consumer.stop()

    def _consumer(self, name: str, handler: Handler) -> Callable[[QueueMessage], Awaitable[bool]]:
        source = SOURCES[name]

        async def handle(message: QueueMessage) -> bool:
            try:
                event = orjson.loads(message.body)
                detail = event["detail"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                log.warning("%s: message %s is not a command event; dropped", name, message.entry_id.decode())
                return True
            replies = await handler(event)
            copies = 2 if str(detail.get("customer", "")).startswith("duplicate-") else 1
            entries = []
            for detail_type, reply in replies:
                body = {"orderId": detail.get("orderId"), **reply, "saga": detail.get("saga")}
                entries += [EventEntry(self.bus, source, detail_type, body)] * copies
            if entries:
                results = await self.publisher.publish(entries)
                for problem in results:
                    if problem is not None:
                        log.warning("%s: an answer could not be published: %s", name, problem)
            return True

        return handle

    async def _do(self, service: str, key: str, *, order: str, amount: int, refused: bool, result: str) -> str:
        k = self.keys[service]
        fields = {
            "payment": ("charged", "charges"),
            "inventory": ("reserved", "reservations"),
            "shipping": ("shipped", "shipments"),
        }[service]
        args = [key, order if service == "payment" else "", amount, 1 if refused else 0, result, *fields]
        (answer,) = await self.batch.run([ScriptCall(self._act, [k["act"], k["ledger"], k["per_order"]], args)])
        return answer.decode() if isinstance(answer, bytes) else str(answer)

    async def _undo_effect(self, service: str, original: str, key: str, amount: int) -> None:
        k = self.keys[service]
        fields = {
            "payment": ("refunded", "refunds"),
            "inventory": ("released", "releases"),
            "shipping": ("cancelled", "cancellations"),
        }[service]
        undo = ScriptCall(self._undo, [k["act"], k["undo"], k["ledger"]], [original, key, amount, *fields])
        await self.batch.run([undo])

    # the services -------------------------------------------------------------------------------------------
    async def _payment(self, event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        detail = event["detail"]
        attempt = int((detail.get("saga") or {}).get("attempt", 1))
        key = str(detail.get("idempotencyKey"))
        card = detail.get("card")
        if event.get("detail-type") == "ChargePayment":
            payment_id = _stable_id("pay-", key)
            outcome = await self._do(
                "payment",
                key,
                order=str(detail.get("orderId")),
                amount=int(detail.get("amount", 0)),
                refused=card == "declined",
                result=f"ok:{payment_id}",
            )
            if outcome.startswith("ok:"):
                if card == "lost-reply" and attempt == 1:
                    return []
                return [("PaymentSucceeded", {"paymentId": outcome[3:], "amount": detail.get("amount")})]
            return [("PaymentFailed", {"reason": "card declined" if outcome == "declined" else "payment voided"})]
        if event.get("detail-type") == "RefundPayment":
            if attempt <= _fault_count(card, "refund-fails:"):
                return [("RefundFailed", {"reason": "the gateway is unavailable"})]
            await self._undo_effect("payment", str(detail.get("chargeKey")), key, int(detail.get("amount", 0)))
            return [("PaymentRefunded", {"amount": detail.get("amount")})]
        return []

    async def _inventory(self, event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        detail = event["detail"]
        key = str(detail.get("idempotencyKey"))
        units = _units(detail.get("items"))
        if event.get("detail-type") == "ReserveInventory":
            missing = any(isinstance(i, dict) and i.get("sku") == "out-of-stock" for i in detail.get("items") or [])
            outcome = await self._do(
                "inventory", key, order="", amount=units, refused=missing, result=f"ok:{_stable_id('res-', key)}"
            )
            if outcome.startswith("ok:"):
                return [("InventoryReserved", {"reservationId": outcome[3:]})]
            return [("InventoryUnavailable", {"reason": "out of stock"})]
        if event.get("detail-type") == "ReleaseInventory":
            await self._undo_effect("inventory", str(detail.get("reserveKey")), key, units)
            return [("InventoryReleased", {})]
        return []

    async def _shipping(self, event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        detail = event["detail"]
        attempt = int((detail.get("saga") or {}).get("attempt", 1))
        key = str(detail.get("idempotencyKey"))
        units = _units(detail.get("items"))
        if event.get("detail-type") == "CreateShipment":
            if attempt <= _fault_count(detail.get("address"), "provider-down:"):
                return [("ShipmentFailed", {"reason": "the carrier is unavailable"})]
            outcome = await self._do(
                "shipping", key, order="", amount=units, refused=False, result=f"ok:{_stable_id('trk-', key)}"
            )
            if outcome.startswith("ok:"):
                return [("ShipmentCreated", {"trackingId": outcome[3:]})]
            return [("ShipmentFailed", {"reason": "shipment voided"})]
        if event.get("detail-type") == "CancelShipment":
            await self._undo_effect("shipping", str(detail.get("shipmentKey")), key, units)
            return [("ShipmentCancelled", {})]
        return []

    async def _approver(self, event: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        customer = str(event["detail"].get("customer", ""))
        if customer.startswith("absent-"):
            return []
        if customer.startswith("reject-"):
            return [("OrderRejected", {"approver": "risk-team"})]
        return [("OrderApproved", {"approver": "risk-team"})]

    # reading ------------------------------------------------------------------------------------------------
    async def ledgers(self) -> Ledgers:
        async with self.redis.pipeline(transaction=False) as pipe:
            for service in ("payment", "inventory", "shipping"):
                pipe.hgetall(self.keys[service]["ledger"])
            pipe.hvals(self.keys["payment"]["per_order"])
            payment, inventory, shipping, per_order = await pipe.execute()

        def get(raw: Mapping[bytes, bytes], name: str) -> int:
            return _int(raw.get(name.encode()))

        return Ledgers(
            charged=get(payment, "charged"),
            refunded=get(payment, "refunded"),
            charges=get(payment, "charges"),
            refunds=get(payment, "refunds"),
            max_charges_per_order=max((int(v) for v in per_order), default=0),
            reserved=get(inventory, "reserved"),
            released=get(inventory, "released"),
            shipped=get(shipping, "shipped"),
            cancelled=get(shipping, "cancelled"),
        )
