"""The schema registry's browse pages under `/ui/schemas`, on the base layout of `router.ui`.

registries -> a registry's schemas (with search) -> a schema: its versions, the selected version as a tree of
fields and types, a sample event, and the Python code binding with a copy button -> a diff between two versions.
Pages are server-rendered (Jinja2); the only script is the copy button's few lines. Names travel as query
parameters, so schema names with `/` or `@` need no path escaping. Everything is read through the same store as
the API, so the pages show exactly what `DescribeSchema` would.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from router.ui import UiLink, templates
from schemas.bindings import COMPLETE, FAILED, BindingService, binding_service, package_path, shown_status
from schemas.services import store
from schemas.ui.sample import sample_event
from schemas.ui.tree import MAX_ROWS, diff_rows, field_rows

__all__ = ["LINK", "routes"]

LINK = UiLink("Schemas", "/ui/schemas", "Registries, discovered schemas, versions and code bindings.", order=30)
_PAGES = templates(Path(__file__).parent / "templates")


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    return _PAGES.TemplateResponse(request, name, context, status_code=status)


def _missing(request: Request, what: str) -> Response:
    return _page(request, "missing.html", {"what": what}, status=404)


async def registries(request: Request) -> Response:
    state = request.app.state.switchboard
    found = await store(state).all_registries()
    counts = {r["RegistryName"]: len(await store(state).all_schemas(r["RegistryName"])) for r in found}
    return _page(request, "registries.html", {"registries": found, "counts": counts})


async def registry(request: Request) -> Response:
    state = request.app.state.switchboard
    name = request.query_params.get("name", "")
    record = await store(state).get_registry(name)
    if record is None:
        return _missing(request, f"Registry {name}")
    query = request.query_params.get("q", "").strip()
    words = [word.lower() for word in query.split()]
    found = [s for s in await store(state).all_schemas(name) if all(w in s["SchemaName"].lower() for w in words)]
    return _page(request, "registry.html", {"registry": record, "schemas": found, "q": query})


async def _load(request: Request) -> tuple[Any, dict[str, Any], list[dict[str, Any]]] | Response:
    state = request.app.state.switchboard
    registry_name = request.query_params.get("registry", "")
    name = request.query_params.get("name", "")
    record = await store(state).get_schema(registry_name, name)
    if record is None:
        return _missing(request, f"Schema {name} in registry {registry_name}")
    versions = await store(state).all_versions(registry_name, name)
    return state, record, versions


async def schema(request: Request) -> Response:
    loaded = await _load(request)
    if isinstance(loaded, Response):
        return loaded
    state, record, versions = loaded
    registry_name = request.query_params["registry"]
    wanted = request.query_params.get("version") or str(record["LatestVersion"])
    version = next((v for v in versions if v["SchemaVersion"] == wanted), None)
    if version is None:
        return _missing(request, f"Version {wanted} of schema {record['SchemaName']}")
    doc = orjson.loads(version["Content"])
    rows = field_rows(doc)
    binding = await _binding(state, registry_name, record["SchemaName"], version)
    context = {
        "registry": registry_name,
        "schema": record,
        "versions": versions,
        "version": version,
        "rows": rows,
        "cut": len(rows) >= MAX_ROWS,
        "sample": orjson.dumps(
            sample_event(doc, account=state.account_id, region=state.region), option=orjson.OPT_INDENT_2
        ).decode(),
        "content": orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode(),
        "binding": binding,
        "previous": _previous(versions, wanted),
    }
    return _page(request, "schema.html", context)


def _previous(versions: list[dict[str, Any]], wanted: str) -> str | None:
    numbers = [v["SchemaVersion"] for v in versions]
    index = numbers.index(wanted)
    return numbers[index - 1] if index > 0 else None


async def _binding(state: Any, registry_name: str, name: str, version: dict[str, Any]) -> dict[str, Any]:
    """The Python binding's state for the page: its code when generated, else generation is started."""
    field = BindingService.field("Python36", version["SchemaVersion"])
    record, source = await store(state).get_binding(registry_name, name, field)
    if record is None or (shown_status(record) == FAILED and record.get("Error") is None):
        record = await binding_service(state).put(registry_name, name, version, "Python36")
    status = shown_status(record)
    if status != COMPLETE or source is None:
        return {"status": status, "error": record.get("Error")}
    with zipfile.ZipFile(io.BytesIO(source)) as archive:
        code = archive.read(f"{package_path(name)}/models.py").decode()
    return {"status": status, "code": code, "package": package_path(name).replace("/", ".")}


async def diff(request: Request) -> Response:
    loaded = await _load(request)
    if isinstance(loaded, Response):
        return loaded
    _state, record, versions = loaded
    by_number = {v["SchemaVersion"]: v for v in versions}
    numbers = list(by_number)
    before_n = request.query_params.get("from") or (numbers[-2] if len(numbers) > 1 else numbers[-1])
    after_n = request.query_params.get("to") or numbers[-1]
    if before_n not in by_number or after_n not in by_number:
        return _missing(request, f"Versions {before_n} and {after_n} of schema {record['SchemaName']}")
    before = field_rows(orjson.loads(by_number[before_n]["Content"]))
    after = field_rows(orjson.loads(by_number[after_n]["Content"]))
    rows = diff_rows(before, after)
    counts = {kind: sum(1 for r in rows if r.change == kind) for kind in ("added", "removed", "changed")}
    context = {
        "registry": request.query_params["registry"],
        "schema": record,
        "versions": versions,
        "before": before_n,
        "after": after_n,
        "rows": rows,
        "counts": counts,
    }
    return _page(request, "diff.html", context)


def routes() -> list[BaseRoute]:
    return [
        Route("/ui/schemas", registries, methods=["GET"]),
        Route("/ui/schemas/registry", registry, methods=["GET"]),
        Route("/ui/schemas/schema", schema, methods=["GET"]),
        Route("/ui/schemas/diff", diff, methods=["GET"]),
    ]
