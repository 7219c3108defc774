"""The browse pages' shared base under `/ui/`: layout, navigation and the one stylesheet.

Pages are server-rendered with Jinja2 through starlette's templates (no JavaScript build step). Every page
extends `base.html`, which draws the header, the navigation and a content block, and links `/ui/static/ui.css`.
The navigation is a small registry: each extension declares `UiLink`s (`Extension.ui_links`, router.extensions),
`router.app` collects them at start-up into `state.extras["ui_links"]`, and `base.html` lists them in `order`.

A package with pages calls `templates(its_own_template_dir)` for a `Jinja2Templates` that finds `base.html` too,
and mounts its routes through its extension. The router itself serves `/ui/` (an index of the linked pages) and
the stylesheet (`routes()`).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

__all__ = ["EXTRAS_KEY", "STATIC_DIR", "TEMPLATES_DIR", "UiLink", "nav_links", "routes", "templates"]

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
EXTRAS_KEY = "ui_links"


@dataclass(frozen=True, slots=True)
class UiLink:
    """One entry of the navigation: a page under `/ui/` that an extension serves."""

    title: str
    path: str
    description: str = ""
    order: int = 100


def nav_links(request: Request) -> list[UiLink]:
    """The process's navigation, in `order` then title order."""
    state = getattr(request.app.state, "switchboard", None)
    links: Sequence[UiLink] = state.extras.get(EXTRAS_KEY, ()) if state is not None else ()
    return sorted(links, key=lambda link: (link.order, link.title))


def _timestamp(epoch_s: float) -> str:
    return datetime.datetime.fromtimestamp(epoch_s, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def templates(*directories: Path) -> Jinja2Templates:
    """Templates from `directories` (first) and this base; `nav_links(request)` is available in every page."""
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader([*map(str, directories), str(TEMPLATES_DIR)])])
    env = jinja2.Environment(loader=loader, autoescape=jinja2.select_autoescape(default=True))
    env.globals["nav_links"] = nav_links
    env.filters["timestamp"] = _timestamp
    return Jinja2Templates(env=env)


_BASE = templates()


async def _index(request: Request) -> Response:
    context: dict[str, Any] = {"links": nav_links(request)}
    return _BASE.TemplateResponse(request, "index.html", context)


async def _redirect(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=307)


def routes() -> list[BaseRoute]:
    """`/ui/` (the index), `/ui` (redirects there) and `/ui/static/` (the stylesheet)."""
    return [
        Route("/ui", _redirect, methods=["GET"]),
        Route("/ui/", _index, methods=["GET"]),
        Mount("/ui/static", app=StaticFiles(directory=STATIC_DIR), name="ui-static"),
    ]
