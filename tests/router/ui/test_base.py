"""The `/ui/` base: the index lists every extension's navigation entries in order, pages extending `base.html`
get the navigation and the one stylesheet, which is served. No Redis is touched (no lifespan)."""

from __future__ import annotations

from pathlib import Path

import httpx
import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from router.app import create_app
from router.extensions import Extension
from router.settings import Settings
from router.ui import UiLink, templates


async def test_index_lists_links_in_order_and_pages_extend_the_base(tmp_path: Path) -> None:
    (tmp_path / "demo.html").write_text('{% extends "base.html" %}{% block content %}<h1>Demo page</h1>{% endblock %}')
    pages = templates(tmp_path)

    async def demo(request: Request) -> Response:
        return pages.TemplateResponse(request, "demo.html", {})

    extension = Extension(
        name="demo",
        routes=[Route("/ui/demo", demo)],
        ui_links=[UiLink("Queues", "/ui/queues", "Messages", order=20), UiLink("Archives", "/ui/demo", order=10)],
    )
    app = create_app(Settings(), redis=aioredis.Redis(), ingest=False, extensions=[extension])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ui.test") as client:
        index = await client.get("/ui/")
        assert index.status_code == 200
        assert index.text.index('href="/ui/demo">Archives') < index.text.index('href="/ui/queues">Queues')
        assert '<link rel="stylesheet" href="/ui/static/ui.css">' in index.text
        page = await client.get("/ui/demo")
        assert "<h1>Demo page</h1>" in page.text
        assert '<a href="/ui/demo" aria-current="page">Archives</a>' in page.text
        css = await client.get("/ui/static/ui.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        redirect = await client.get("/ui", follow_redirects=False)
        assert (redirect.status_code, redirect.headers["location"]) == (307, "/ui/")


async def test_no_links_says_so() -> None:
    app = create_app(Settings(), redis=aioredis.Redis(), ingest=False, extensions=[])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ui.test") as client:
        assert "No pages are installed." in (await client.get("/ui/")).text
