"""The web view of the office: one self-contained page at /web, and the read-only routes it uses.

    GET /                      -> 307 to /web (query string kept, so ?token=... survives)
    GET /web                   -> the page (HTML with its CSS and JS inlined: one request, no CDN)
    GET /web/tasks             -> the shipped tasks for the picker
    GET /episodes/{id}/view    -> `ghostexec.view.office_view` of a live /episodes episode

The page plays through the same `/episodes` routes as every HTTP client (POST /episodes, POST
/episodes/{id}/step), so there is no second simulation; this module only adds a read of the
episode in the shape the page draws, computed by the core. Why a static page instead of OpenEnv's
Gradio playground: docs/web.md.

Token: when the server requires a bearer token (openenv_server.auth), open `/web?token=...`; the
page sends `Authorization: Bearer` on every fetch. CSS and JS are inlined so that the page itself
is the only request that needs the token in its URL.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from ghostexec.view import office_view, task_catalogue

from .episodes import EpisodeStore

ASSETS = Path(__file__).resolve().parent / "webui"
# The page fetches nothing from elsewhere: a strict policy makes a stray external URL fail loudly.
CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'"
)


@lru_cache(maxsize=1)
def page_html() -> str:
    """index.html with office.css and office.js inlined (read once per process)."""
    html = (ASSETS / "index.html").read_text(encoding="utf-8")
    css = (ASSETS / "office.css").read_text(encoding="utf-8")
    js = (ASSETS / "office.js").read_text(encoding="utf-8")
    return html.replace("/*OFFICE_CSS*/", css).replace("/*OFFICE_JS*/", js)


def episode_view(store: EpisodeStore, eid: str) -> dict[str, Any]:
    ep = store.get(eid)  # 404 unknown_episode, as for every /episodes route
    with ep.lock:
        sim = ep.env.simulation
        data = office_view(sim)
    data["id"] = ep.id
    data["idle_ttl_s"] = store.idle_ttl_s
    return data


def web_router(store: EpisodeStore) -> APIRouter:
    router = APIRouter()

    @router.get("/", include_in_schema=False)
    async def _root(request: Request) -> RedirectResponse:
        query = request.url.query
        return RedirectResponse(url="/web" + (f"?{query}" if query else ""), status_code=307)

    @router.get("/web", include_in_schema=False)
    @router.get("/web/", include_in_schema=False)
    async def _page() -> HTMLResponse:
        return HTMLResponse(
            page_html(),
            headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"},
        )

    @router.get("/web/tasks", tags=["Web view"], summary="The shipped tasks (id, title, difficulty, steps)")
    async def _tasks() -> list[dict[str, Any]]:
        return _catalogue()

    @router.get(
        "/episodes/{episode_id}/view",
        tags=["HTTP episodes"],
        summary="The office as the web page draws it: calendar with conflicts, moods, tasks, stress, rewards, valid ids",
        responses={404: {"description": "Unknown or expired episode"}},
    )
    async def _view(episode_id: str) -> dict[str, Any]:
        return await run_in_threadpool(episode_view, store, episode_id)

    return router


@lru_cache(maxsize=1)
def _catalogue() -> list[dict[str, Any]]:
    return task_catalogue()


def register_web(app: FastAPI) -> None:
    """Add the page and its routes to an app built by `openenv_server.app.create_app`."""
    app.include_router(web_router(app.state.episode_store))
