"""Payload limits as a pure ASGI middleware (cheap: no per-request objects on the hot path).

- HTTP: a body larger than `max_body_bytes` gets 413 with a JSON error, before any route runs
  (checked from Content-Length, or by buffering a chunked body up to the limit).
- WebSocket (`ws_paths`, default just OpenEnv's `/ws`): a text frame larger than `max_ws_bytes`, or
  any binary frame, is answered with an OpenEnv-style error frame
  (`{"type": "error", "data": {"code": "PAYLOAD_TOO_LARGE" | "BINARY_FRAME", ...}}`) and dropped;
  the session stays open and usable. The server's offer to answer messages inline
  (openenv_server/websocket.py) is passed on with this limit, so larger messages still come here.
  Frames beyond uvicorn's `ws_max_size` (set well above the limit by `serve`) are closed by
  uvicorn with code 1009.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from starlette.websockets import WebSocketDisconnect

from .websocket import INLINE_REPLIES


def _http_413(limit: int) -> tuple[dict[str, Any], dict[str, Any]]:
    body = json.dumps(
        {
            "detail": {
                "error": "payload_too_large",
                "message": f"request body exceeds the {limit}-byte limit (GHOSTEXEC_MAX_BODY_BYTES / --max-body-bytes)",
                "limit_bytes": limit,
            }
        }
    ).encode()
    start = {
        "type": "http.response.start",
        "status": 413,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    return start, {"type": "http.response.body", "body": body}


class PayloadLimitMiddleware:
    def __init__(
        self, app: Any, max_body_bytes: int = 262144, max_ws_bytes: int | None = None, ws_paths: tuple[str, ...] = ("/ws",)
    ):
        self.app = app
        self.max_body_bytes = int(max_body_bytes)
        self.max_ws_bytes = int(max_ws_bytes if max_ws_bytes is not None else max_body_bytes)
        self.ws_paths = frozenset(ws_paths)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket" and scope.get("path") in self.ws_paths:
            # OpenEnv 0.3.0 closes the socket after the peer left and only expects RuntimeError; the
            # session is already destroyed by then, so the WebSocketDisconnect is just log noise.
            with contextlib.suppress(WebSocketDisconnect):
                await self.app(self._narrow_inline(scope), self._ws_receive(receive, send), send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        limit = self.max_body_bytes
        length = None
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    length = None
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        if length is not None:
            if length > limit:
                start, body = _http_413(limit)
                await send(start)
                await send(body)
                return
            await self.app(scope, receive, send)
            return
        if not chunked:
            await self.app(scope, receive, send)
            return
        # Chunked body: buffer up to the limit, then replay it to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                start, body = _http_413(limit)
                await send(start)
                await send(body)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}], receive), send)

    def _narrow_inline(self, scope: dict[str, Any]) -> dict[str, Any]:
        """`scope` with the inline-reply offer limited to messages within `max_ws_bytes`."""
        extensions = scope.get("extensions") or {}
        offer = extensions.get(INLINE_REPLIES)
        if offer is None:
            return scope
        limit = self.max_ws_bytes

        def limited_offer(handler: Any, max_bytes: int | None = None) -> None:
            offer(handler, limit if max_bytes is None else min(limit, max_bytes))

        return {**scope, "extensions": {**extensions, INLINE_REPLIES: limited_offer}}

    def _ws_receive(self, receive: Any, send: Any) -> Any:
        limit = self.max_ws_bytes

        async def limited_receive() -> dict[str, Any]:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return message
                text = message.get("text")
                if text is None:
                    await send(
                        {
                            "type": "websocket.send",
                            "text": _ws_error("BINARY_FRAME", "binary frames are not supported: send JSON text frames"),
                        }
                    )
                    continue
                if len(text) * 4 > limit and len(text.encode()) > limit:
                    await send(
                        {
                            "type": "websocket.send",
                            "text": _ws_error(
                                "PAYLOAD_TOO_LARGE",
                                f"message exceeds the {limit}-byte limit (GHOSTEXEC_MAX_BODY_BYTES); it was dropped, the session is unchanged",
                            ),
                        }
                    )
                    continue
                return message

        return limited_receive


def _ws_error(code: str, message: str) -> str:
    return json.dumps({"type": "error", "data": {"message": message, "code": code}})


def _replay(messages: list[dict[str, Any]], receive: Any) -> Any:
    pending = list(messages)

    async def replay_receive() -> dict[str, Any]:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay_receive
