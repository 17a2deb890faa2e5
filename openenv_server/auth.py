"""Optional bearer token for the whole app (`GHOSTEXEC_TOKEN` / `--token`), for a public deployment.

When a token is set, every HTTP request and every WebSocket handshake must carry it, except
`GET /health` (the container health check and the Space's liveness probe). Accepted forms:

- `Authorization: Bearer <token>` (HTTP and WebSocket; what API clients and the MCP SDK send);
- `?token=<token>` in the query string, because browsers cannot set headers on a WebSocket or on
  a page they navigate to. Query strings end up in access logs and browser history: prefer the
  header wherever a client can send one.

A missing or wrong token gets 401 with `WWW-Authenticate: Bearer` and a JSON error, before any
route runs; a WebSocket handshake is refused with that same 401 response (ASGI's
`websocket.http.response` extension; servers without it close with code 1008 instead). The token is
compared in constant time. With no token set the middleware is not installed at all.

It is one pure ASGI middleware put in front of *everything* (`protect(app)`): OpenEnv's routes and
`/ws`, `/episodes`, the MCP endpoints that `mcp_server.http.mount` adds, and any page mounted later
(e.g. `/web`). `protect` is idempotent and always moves the guard to the outermost position, so call
it again after mounting more middleware (`ghostexec.cli.create_app` does).
"""

from __future__ import annotations

import hmac
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.middleware import Middleware

OPEN_PATHS = frozenset({"/health"})
REALM = "ghostexec"


def _response(error: str, message: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = json.dumps({"detail": {"error": error, "message": message}}).encode()
    challenge = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error == "invalid_token" else "")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", challenge.encode()),
    ]
    return {"status": 401, "headers": headers}, {"body": body}


class BearerTokenMiddleware:
    """Refuse requests without the configured bearer token (see the module docstring)."""

    def __init__(self, app: Any, token: str, open_paths: frozenset[str] = OPEN_PATHS) -> None:
        if not token:
            raise ValueError("BearerTokenMiddleware needs a non-empty token")
        self.app = app
        self._token = token.encode()
        self.open_paths = open_paths

    def _presented(self, scope: dict[str, Any]) -> bytes | None:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, credential = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    return credential.strip()
        query = scope.get("query_string", b"")
        if b"token=" in query:
            for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if key == "token":
                    return value.encode("latin-1")
        return None

    def check(self, scope: dict[str, Any]) -> tuple[str, str] | None:
        """None if the request may pass, else (error code, message)."""
        presented = self._presented(scope)
        if presented is None:
            return (
                "unauthorized",
                "this server requires a bearer token (GHOSTEXEC_TOKEN is set): send 'Authorization: Bearer <token>' "
                "or, from a browser, add ?token=<token> to the URL",
            )
        if not hmac.compare_digest(presented, self._token):
            return ("invalid_token", "the bearer token is not valid for this server")
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope.get("path") in self.open_paths:
            await self.app(scope, receive, send)
            return
        refused = self.check(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        start, body = _response(*refused)
        if kind == "http":
            await send({"type": "http.response.start", **start})
            await send({"type": "http.response.body", **body})
        elif "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", **start})
            await send({"type": "websocket.http.response.body", **body})
        else:
            await send({"type": "websocket.close", "code": 1008, "reason": refused[1][:120]})


def protect(app: Any, token: str | None) -> None:
    """Install (or move to the outermost position) the bearer-token guard on a Starlette/FastAPI app
    that has not started yet. No token: nothing is installed."""
    stack: list[Middleware] = app.user_middleware
    stack[:] = [m for m in stack if m.cls is not BearerTokenMiddleware]
    if token:
        stack.insert(0, Middleware(BearerTokenMiddleware, token=token))


__all__ = ["OPEN_PATHS", "BearerTokenMiddleware", "protect"]
