"""The sagas' pages under `/ui/sagas`, on the base layout of `router.ui`: "where is this order?" in a browser.

saga types (counts per status, and a search by id) -> a type: its definition drawn as a diagram (sagas.diagram,
server-side SVG), instances per state, and its instances filtered by status or state -> an instance: where it is,
its steps, pending timers, the diagram with the path it took, and its timeline (one entry per transition, with
times, attempts and what it sent). Everything is read through sagas.view, so the pages need no saga code and show
what `switchboard saga status` prints. No script: forms and links only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from router.ui import UiLink, templates
from sagas.diagram import render
from sagas.instance import START, STATUSES
from sagas.view import SagaView

__all__ = ["LINK", "routes"]

LINK = UiLink("Sagas", "/ui/sagas", "Saga definitions as diagrams, instances and their timelines.", order=40)
_PAGES = templates(Path(__file__).parent / "templates")
LIST_LIMIT = 200
"""Instances listed on a type's page (most recently changed first)."""


def _view(request: Request) -> SagaView:
    state = request.app.state.switchboard
    return SagaView(state.redis, state.keys.prefix)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return _PAGES.TemplateResponse(request, name, context, status_code=status)


def _missing(request: Request, what: str) -> Response:
    return _page(request, "missing.html", {"what": what}, status=404)


def _by_status(counts: dict[tuple[str, str], int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for (status, _), count in counts.items():
        out[status] = out.get(status, 0) + count
    return {s: out[s] for s in STATUSES if s in out}


async def types(request: Request) -> Response:
    view = _view(request)
    wanted = request.query_params.get("id", "").strip()
    found_none = None
    if wanted:
        found = await view.find(wanted)
        if len(found) == 1:
            return RedirectResponse(_instance_url(found[0].saga, found[0].id), status_code=303)
        found_none = not found
    described = await view.types()
    counts = {name: _by_status(await view.counts(name)) for name in described}
    context = {"types": described, "counts": counts, "q": wanted, "found_none": found_none}
    return _page(request, "types.html", context)


def _instance_url(saga: str, instance_id: str) -> str:
    from urllib.parse import urlencode

    return "/ui/sagas/instance?" + urlencode({"type": saga, "id": instance_id})


async def saga_type(request: Request) -> Response:
    view = _view(request)
    name = request.query_params.get("name", "")
    described = (await view.types()).get(name)
    if described is None:
        return _missing(request, f"Saga type {name}")
    state = request.query_params.get("state", "").strip()
    counts = await view.counts(name)
    per_state: dict[str, int] = {}
    for (_, state_name), count in counts.items():
        per_state[state_name] = per_state.get(state_name, 0) + count
    listed = await view.listing(name, state or None, limit=LIST_LIMIT + 1)
    context = {
        "saga": described,
        "diagram": render(described),
        "per_state": per_state,
        "by_status": _by_status(counts),
        "instances": [item.entry for item in listed[:LIST_LIMIT]],
        "more": len(listed) > LIST_LIMIT,
        "state": state,
        "choices": [*(s for s in STATUSES), *(str(s["name"]) for s in described["states"])],
        "counters": await view.counters(name),
    }
    return _page(request, "type.html", context)


async def instance(request: Request) -> Response:
    view = _view(request)
    saga = request.query_params.get("type", "")
    instance_id = request.query_params.get("id", "")
    found = await view.status(saga, instance_id)
    if found is None:
        return _missing(request, f"Instance {instance_id} of saga type {saga}")
    moves = [(str(e["from"]), str(e["to"])) for e in found.history if "from" in e and "to" in e]
    visited = {START} | {s for move in moves for s in move}
    diagram = (
        render(found.definition, current=found.instance.state, visited=visited, taken=moves)
        if found.definition
        else None
    )
    first = int(found.history[0]["at"]) if found.history else found.instance.created_ms
    context = {
        "i": found.instance,
        "status": found,
        "diagram": diagram,
        "timeline": [_entry(e, first) for e in found.history],
        "data": orjson.dumps(found.instance.data, option=orjson.OPT_INDENT_2).decode(),
    }
    return _page(request, "instance.html", context)


def _entry(entry: dict[str, Any], first_ms: int) -> dict[str, Any]:
    at = int(entry.get("at") or 0)
    return {
        "at": at,
        "offset_s": (at - first_ms) / 1000 if at and first_ms else 0.0,
        "input": entry.get("input", "?"),
        "outcome": entry.get("outcome", "applied"),
        "from": entry.get("from"),
        "to": entry.get("to"),
        "state": entry.get("state"),
        "attempt": int(entry.get("attempt") or 1),
        "sent": [str(s.get("type", "?")) for s in entry.get("sent", [])],
        "notes": [str(n) for n in entry.get("notes", [])],
        "event": entry.get("event"),
    }


def routes() -> list[BaseRoute]:
    return [
        Route("/ui/sagas", types, methods=["GET"]),
        Route("/ui/sagas/type", saga_type, methods=["GET"]),
        Route("/ui/sagas/instance", instance, methods=["GET"]),
    ]
