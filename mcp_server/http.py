"""Streamable HTTP: the standard MCP server inside the same FastAPI app and port as OpenEnv.

    from mcp_server.http import mount
    app = openenv_server.app.create_app(...)      # OpenEnv routes, incl. its own POST/WS /mcp
    mount(app)                                     # adds the standard MCP endpoints below

Endpoints (prefix `/mcp-std` by default):

- `/mcp-std/` (the lobby). Handshake-era clients get one episode per MCP session (created on first
  use, dropped when the session ends). 2026-07-28 clients are stateless: they call `start_episode`
  here and continue at the `url` it returns.
- `/mcp-std/episodes/{handle}/`: one episode, addressed by URL, for clients of either era. A URL
  with an unknown name creates the episode on first use (`?task=T&seed=N` pick the scenario), so a
  host whose configuration holds one fixed URL can play without any setup call.
- `POST /mcp-std/episodes` with `{"task_id", "seed", "episode_id"}` (all optional): a harness
  creates an episode without speaking MCP; answers `{"episode", "url", "task_id"}` (201).
- `/mcp`: shared with OpenEnv. Standard MCP traffic (MCP headers, `Accept: text/event-stream`,
  GET/DELETE, or an `initialize` / `server/discover` / `_meta`-versioned body) goes to the lobby;
  anything else, such as `openenv validate`'s bare `POST {}` or OpenEnv's own JSON-RPC calls and
  its WebSocket, goes to OpenEnv's handler unchanged.

DNS-rebinding protection stays on: Host must be loopback or listed in `allowed_hosts` (or the
env var GHOSTEXEC_ALLOWED_HOSTS, comma-separated; on a Hugging Face Space, SPACE_HOST is added
automatically), Origin likewise.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from mcp.server import MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .episodes import BASE_URL_KEY, SCOPE_KEY, EpisodeRegistry, RegistryFull
from .server import build_server

DEFAULT_PREFIX = "/mcp-std"
LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]"]
MCP_HEADERS = (b"mcp-session-id", b"mcp-protocol-version", b"mcp-method")
EPISODE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def security_settings(
    allowed_hosts: list[str] | None = None, allowed_origins: list[str] | None = None
) -> TransportSecuritySettings:
    extra = [h.strip() for h in os.environ.get("GHOSTEXEC_ALLOWED_HOSTS", "").split(",") if h.strip()]
    if os.environ.get("SPACE_HOST"):  # a Hugging Face Space's own public host name
        extra.append(os.environ["SPACE_HOST"].strip())
    extra += [f"{h}:*" for h in extra if ":" not in h]
    hosts = LOOPBACK_HOSTS + list(allowed_hosts or []) + extra
    origins = [f"http://{h}" for h in ("127.0.0.1:*", "localhost:*", "[::1]:*")]
    origins += list(allowed_origins or []) + [f"https://{h}" for h in extra] + [f"http://{h}" for h in extra]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


@dataclass
class MCPMount:
    """What `mount` returns: handy for tests and for the CLI."""

    server: MCPServer
    registry: EpisodeRegistry
    session_manager: StreamableHTTPSessionManager
    prefix: str

    def capacity(self) -> dict[str, Any]:
        """Live MCP sessions (handshake era) and episodes vs their limits (GET /capacity shows it)."""
        sm = self.session_manager
        return {
            "sessions": {"active": len(sm._server_instances), "max": sm.max_sessions, "idle_ttl_s": sm.session_idle_timeout},
            "episodes": {"live": len(self.registry), "max": self.registry.max_episodes, "idle_ttl_s": self.registry.idle_ttl_s},
        }


def _is_standard_mcp(scope: Scope, body: bytes | None) -> bool:
    """Does a request to the shared `/mcp` path speak standard MCP (else it is OpenEnv's)?"""
    if scope["method"] in ("GET", "DELETE"):
        return True
    headers = dict(scope["headers"])
    if any(h in headers for h in MCP_HEADERS):
        return True
    if b"text/event-stream" in headers.get(b"accept", b""):
        return True
    try:
        msg = json.loads(body or b"")
    except ValueError:
        return False
    msgs = msg if isinstance(msg, list) else [msg]
    for m in msgs:
        if not isinstance(m, dict):
            continue
        if m.get("method") in ("initialize", "server/discover"):
            return True
        params = m.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        if isinstance(meta, dict) and "io.modelcontextprotocol/protocolVersion" in meta:
            return True
    return False


async def _peek_body(receive: Receive, limit: int) -> tuple[bytes | None, Receive]:
    """Read the request body to classify it, up to `limit` bytes; return it (None if longer) and a
    `receive` that replays everything read, so the chosen app sees the request untouched."""
    messages: list[Message] = []
    size = 0
    complete = False
    while size <= limit:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            complete = True
            break
    body = b"".join(m.get("body", b"") for m in messages) if complete and size <= limit else None

    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return body, replay


class _Dispatcher:
    """Pure ASGI middleware in front of the whole app (so it wins over OpenEnv's /mcp route)."""

    def __init__(self, app: ASGIApp, *, mount: MCPMount, security: TransportSecuritySettings, shared_path: str | None) -> None:
        self.app = app
        self.m = mount
        self.security = TransportSecurityMiddleware(security)
        self.shared_path = shared_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)  # lifespan, and OpenEnv's WebSockets (/ws, /mcp)
            return
        path: str = scope["path"]
        prefix = self.m.prefix
        if path == prefix or path == prefix + "/":
            await self._to_mcp(scope, receive, send, None)
        elif path.startswith(prefix + "/episodes"):
            await self._episodes(scope, receive, send, path[len(prefix) + len("/episodes") :])
        elif self.shared_path is not None and path.rstrip("/") == self.shared_path:
            body = None
            if scope["method"] == "POST" and not any(h in dict(scope["headers"]) for h in MCP_HEADERS):
                body, receive = await _peek_body(receive, self.m.session_manager.max_request_body_size)
            if _is_standard_mcp(scope, body):
                await self._to_mcp(scope, receive, send, None)
            else:
                await self.app(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    def _base_url(self, scope: Scope) -> str:
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1") or "127.0.0.1"
        proto = headers.get(b"x-forwarded-proto", scope.get("scheme", "http").encode()).decode("latin-1")
        return f"{proto}://{host}{scope.get('root_path', '')}{self.m.prefix}"

    async def _to_mcp(self, scope: Scope, receive: Receive, send: Send, handle: str | None) -> None:
        state = dict(scope.get("state") or {})
        state[BASE_URL_KEY] = self._base_url(scope)
        if handle is not None:
            state[SCOPE_KEY] = handle
        scope = {**scope, "path": "/", "raw_path": b"/", "state": state}
        await self.m.session_manager.handle_request(scope, receive, send)

    async def _episodes(self, scope: Scope, receive: Receive, send: Send, rest: str) -> None:
        request = Request(scope, receive)
        if rest in ("", "/"):
            if scope["method"] != "POST":
                await JSONResponse({"error": "POST a JSON object {task_id, seed, episode_id} to create an episode"}, 405)(
                    scope, receive, send
                )
                return
            if (refused := await self.security.validate_request(request, is_post=True)) is not None:
                await refused(scope, receive, send)
                return
            try:
                raw = await request.body()
                args = json.loads(raw) if raw.strip() else {}
                if not isinstance(args, dict):
                    raise ValueError("body must be a JSON object")
                seed = args.get("seed")
                ep = self.m.registry.create(args.get("task_id"), None if seed is None else int(seed), args.get("episode_id"))
            except RegistryFull as exc:
                await JSONResponse({"error": str(exc)}, 503)(scope, receive, send)
                return
            except KeyError as exc:
                await JSONResponse({"error": str(exc.args[0] if exc.args else exc)}, 404)(scope, receive, send)
                return
            except (ValueError, TypeError) as exc:
                await JSONResponse({"error": str(exc)}, 400)(scope, receive, send)
                return
            url = f"{self._base_url(scope)}/episodes/{ep.handle}/"
            body = {"episode": ep.handle, "url": url, "task_id": ep.sim.task_id, "episode_id": ep.sim.episode_id}
            await JSONResponse(body, 201)(scope, receive, send)
            return
        handle = rest.strip("/")
        if self.m.registry.get(handle) is None:
            # Episodes are also created on first use under a client-chosen name, so a host whose
            # config holds one fixed URL (any era) can play: /mcp-std/episodes/NAME/?task=T&seed=N.
            error = None
            if not EPISODE_NAME.fullmatch(handle):
                error = (404, f"not an episode name: {handle!r} (use 1-64 of A-Z a-z 0-9 _ . -)")
            elif (refused := await self.security.validate_request(Request(scope), is_post=False)) is not None:
                await refused(scope, receive, send)
                return
            else:
                query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
                try:
                    seed = int(query["seed"]) if "seed" in query else None
                    self.m.registry.create(query.get("task"), seed, query.get("episode_id"), handle=handle)
                except RegistryFull as exc:
                    error = (503, str(exc))
                except KeyError as exc:
                    error = (404, str(exc.args[0] if exc.args else exc))
                except ValueError as exc:
                    error = (400, str(exc))
            if error is not None:
                body = {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": error[1]}}
                await JSONResponse(body, error[0])(scope, receive, send)
                return
        await self._to_mcp(scope, receive, send, handle)


def mount(
    app: Any,
    *,
    registry: EpisodeRegistry | None = None,
    prefix: str = DEFAULT_PREFIX,
    share_path: str | None = "/mcp",
    allowed_hosts: list[str] | None = None,
    allowed_origins: list[str] | None = None,
    json_response: bool = False,
    session_idle_timeout: float | None = 2 * 3600,
    restart_tool: bool = True,
    briefing_in_result: bool = True,
    max_request_body_size: int | None = None,
    max_sessions: int | None = None,
) -> MCPMount:
    """Serve the standard MCP server inside `app` (FastAPI/Starlette, not yet started).

    Chains `app`'s lifespan (OpenEnv's startup hooks keep running) with the MCP session manager,
    and installs the dispatcher described in the module docstring. `share_path=None` leaves `/mcp`
    entirely to OpenEnv."""
    if registry is None:  # same limits as OpenEnv's HTTP episodes when the app carries its Settings
        settings = getattr(getattr(app, "state", None), "settings", None)
        limits = {}
        if isinstance(getattr(settings, "max_episodes", None), int):
            limits["max_episodes"] = settings.max_episodes
        if isinstance(getattr(settings, "episode_ttl_s", None), (int, float)):
            limits["idle_ttl_s"] = float(settings.episode_ttl_s)
        registry = EpisodeRegistry(**limits)
    server = build_server(registry, restart_tool=restart_tool, briefing_in_result=briefing_in_result)
    if max_request_body_size is None:  # follow the host app's limit (OpenEnv's Settings) when it has one
        limit = getattr(getattr(getattr(app, "state", None), "settings", None), "max_body_bytes", None)
        max_request_body_size = int(limit) if isinstance(limit, int) and limit > 0 else 4 * 1024 * 1024
    if max_sessions is None:  # likewise the session limit (GHOSTEXEC_MAX_MCP_SESSIONS)
        limit = getattr(getattr(getattr(app, "state", None), "settings", None), "max_mcp_sessions", None)
        max_sessions = int(limit) if isinstance(limit, int) and limit > 0 else 256
    security = security_settings(allowed_hosts, allowed_origins)
    server.streamable_http_app(  # creates server.session_manager; the Starlette wrapper is not used
        streamable_http_path="/",
        json_response=json_response,
        transport_security=security,
        session_idle_timeout=session_idle_timeout,
        max_request_body_size=max_request_body_size,
        max_sessions=max_sessions,  # one more gets 503 "Too many open sessions"
    )
    m = MCPMount(server=server, registry=registry, session_manager=server.session_manager, prefix=prefix.rstrip("/"))

    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with original(a) as state, m.session_manager.run():
            yield state

    app.router.lifespan_context = lifespan
    app.add_middleware(_Dispatcher, mount=m, security=security, shared_path=share_path)
    return m


def create_standalone_app(registry: EpisodeRegistry | None = None, **kw: Any) -> Any:
    """A FastAPI app with only the MCP endpoints (and GET /health): for tests and benchmarks."""
    from fastapi import FastAPI

    app = FastAPI(title="Ghostexec MCP")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "healthy"}

    app.state.mcp = mount(app, registry=registry, share_path=None, **kw)
    return app


__all__ = ["DEFAULT_PREFIX", "MCPMount", "create_standalone_app", "mount", "security_settings"]
