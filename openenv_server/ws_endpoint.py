"""OpenEnv's `/ws` session protocol, answered by a leaner endpoint over the same `HTTPEnvServer`.

Same protocol as openenv-core 0.3.0's own handler, message for message. The message types are
reset, step, state, close and mcp. Replies have the same shapes and error codes (`WSErrorCode`).
Sessions are kept the same way, through the server's `_create_session`, `_destroy_session` and
`_update_session_activity`, so capacity, /capacity and `active_sessions` behave as before. Reset
options are filtered by the environment's signature. Environments that only define a synchronous
`step`/`reset` still run them on their session's thread. `mcp` messages go to OpenEnv's own
handler, taken from the route this endpoint replaces.

Two things differ:

- **Speed.** OpenEnv writes every observation as
  `WSObservationResponse(data=serialize_observation(obs)).model_dump_json()`. That model's `data`
  is `Dict[str, Any]`, so pydantic works out the type of every value at run time. On a Ghostexec
  observation (~10 KB, most of it the briefing) that costs ~14.5 µs in process. `orjson` writes
  the same dict, byte for byte, in ~6 µs including `serialize_observation`. `observation_reply`
  uses orjson only where the bytes must be the same: anything orjson would write differently
  (datetimes, subclasses of str/int/float, dataclasses, ints beyond 64 bits, lone surrogates)
  goes back to pydantic. Tests compare the two on real observations and on generated values.
  Server CPU per step at 64 sessions: docs/openenv.md, "Our own /ws endpoint".
- **A JSON message that is not an object** (`[]`, `"step"`, `5`). OpenEnv's handler calls
  `.get` on it, fails outside its error handling, replies `SESSION_ERROR` and ends the session.
  Here it is a `VALIDATION_ERROR`, and the session goes on like after any other bad message.

**Inline steps.** Under our uvicorn protocol (openenv_server/websocket.py), an environment that
declares `STEPS_INLINE = True` has its step messages answered inside the socket's read callback,
while the session waits for its next message. That skips the receive queue, a task switch and the
ASGI message dicts. The reply is the same as the one the usual path gives: `answer_inline` and
`answer` share the step and the error replies, and tests compare them. Everything else (reset,
state, close, mcp, bad JSON) and every environment without the flag takes the usual path. So does
every server that does not offer the extension, such as Starlette's TestClient.

`install_ws_endpoint(app)` swaps the route; `create_app` calls it, and so do the bench's trivial
servers, so the transport floor is served the same way as Ghostexec.
"""

from __future__ import annotations

import inspect
import json
from contextlib import AsyncExitStack, suppress
from typing import Any

import orjson
from fastapi import FastAPI
from openenv.core.env_server.exceptions import EnvironmentFactoryError, SessionCapacityError
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.mcp_types import (
    JsonRpcErrorCode,
    JsonRpcRequest,
    JsonRpcResponse,
    WSMCPMessage,
    WSMCPResponse,
)
from openenv.core.env_server.serialization import deserialize_action, serialize_observation
from openenv.core.env_server.types import (
    WSCloseMessage,
    WSErrorCode,
    WSErrorResponse,
    WSObservationResponse,
    WSResetMessage,
    WSStateMessage,
    WSStateResponse,
    WSStepMessage,
)
from pydantic import ValidationError
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from .websocket import INLINE_REPLIES

WS_PATH = "/ws"

# Hand these to pydantic instead of letting orjson write them its own way (orjson then raises
# TypeError, having no `default`).
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS


def observation_reply(observation: Any) -> str:
    """The `{"type": "observation", "data": ...}` message for `observation`. It has the same bytes
    as `WSObservationResponse(data=serialize_observation(observation)).model_dump_json()`, and is
    written by orjson unless a value needs pydantic (module docstring)."""
    data = serialize_observation(observation)
    try:
        return orjson.dumps({"type": "observation", "data": data}, option=_ORJSON_OPTIONS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return WSObservationResponse(data=data).model_dump_json()


def _error(code: WSErrorCode, message: str, **extra: Any) -> str:
    return WSErrorResponse(data={"message": message, "code": code, **extra}).model_dump_json()


def _failure(exc: Exception) -> str:
    """The error reply to a message whose handling raised `exc`."""
    if isinstance(exc, ValidationError):
        return WSErrorResponse(
            data={"message": "Invalid message", "code": WSErrorCode.VALIDATION_ERROR, "errors": exc.errors()}
        ).model_dump_json()
    return _error(WSErrorCode.EXECUTION_ERROR, str(exc))


def _no_offer(handler: Any, max_bytes: int | None = None) -> None:
    """Stands in for the inline-reply offer where there is none: every message takes `answer`."""


def _overrides(env: Environment, name: str) -> bool:
    """Whether `env` defines its own async `name` (OpenEnv then awaits it on the event loop)."""
    method = getattr(env, name)
    return getattr(method, "__func__", None) is not getattr(Environment, name)


class SessionSocket:
    """One `/ws` connection: one environment from `server`, one message at a time."""

    def __init__(self, server: Any, mcp_handler: Any, websocket: WebSocket) -> None:
        self.server = server
        self.mcp_handler = mcp_handler
        self.websocket = websocket
        self.session_id: str | None = None
        self.env: Any = None
        self.async_step = self.async_reset = False
        self.reset_signature: inspect.Signature | None = None  # of the reset OpenEnv would call

    async def run(self) -> None:
        websocket, server = self.websocket, self.server
        await websocket.accept()
        try:
            self.session_id, self.env = await server._create_session()
            if self.env is None:
                raise RuntimeError("Session environment not initialized for websocket")
            self.async_step = _overrides(self.env, "step_async")
            self.async_reset = _overrides(self.env, "reset_async")
            # once per session, not per reset: the bound method cannot change
            self.reset_signature = inspect.signature(self.env.reset_async if self.async_reset else self.env.reset)
            offer = self.inline_offer()
            async with AsyncExitStack() as stack:
                mcp_session = getattr(self.env, "mcp_session", None)
                if callable(mcp_session):
                    await stack.enter_async_context(mcp_session())
                while True:
                    offer(self.answer_inline)  # only while waiting: replies keep their order
                    try:
                        raw = await websocket.receive_text()
                    finally:
                        offer(None)
                    reply = await self.answer(raw)
                    if reply is None:
                        break
                    await websocket.send_text(reply)
        except WebSocketDisconnect:
            pass
        except SessionCapacityError as exc:
            await websocket.send_text(
                _error(
                    WSErrorCode.CAPACITY_REACHED,
                    str(exc),
                    active_sessions=exc.active_sessions,
                    max_sessions=exc.max_sessions,
                )
            )
        except EnvironmentFactoryError as exc:
            await websocket.send_text(_error(WSErrorCode.FACTORY_ERROR, str(exc), factory_name=exc.factory_name))
        except Exception as exc:
            await websocket.send_text(_error(WSErrorCode.SESSION_ERROR, str(exc)))
        finally:
            if self.session_id:
                await server._destroy_session(self.session_id)
            with suppress(RuntimeError):
                await websocket.close()

    def inline_offer(self) -> Any:
        """The server's offer to answer messages inline, if it makes one and this session's
        environment steps inline (`STEPS_INLINE`, and an async step that OpenEnv runs on the loop);
        otherwise `_no_offer`."""
        if not (self.async_step and getattr(self.env, "STEPS_INLINE", False) is True):
            return _no_offer
        return (self.websocket.scope.get("extensions") or {}).get(INLINE_REPLIES, _no_offer)

    def answer_inline(self, raw: str) -> str | None:
        """The reply to a step message, made on the spot, or None to leave the message (and any
        other kind) to `answer`. Never raises: failures get `answer`'s error replies."""
        try:
            message = json.loads(raw)
        except Exception:  # bad JSON (or nesting too deep to parse): `answer` says so
            return None
        if type(message) is not dict or message.get("type") != "step":
            return None
        try:
            msg = WSStepMessage(**message)
            return self.stepped(self.env.step(deserialize_action(msg.data, self.server.action_cls)))
        except Exception as exc:
            return _failure(exc)

    async def answer(self, raw: str) -> str | None:
        """The reply to one text message, or None for `close`."""
        try:
            message = json.loads(raw)
        except json.JSONDecodeError as exc:
            return _error(WSErrorCode.INVALID_JSON, f"Invalid JSON: {exc}")
        try:
            if not isinstance(message, dict):
                WSStepMessage.model_validate(message)  # raises: says what was expected and what came
            match message.get("type", ""):
                case "step":
                    return await self.step(WSStepMessage(**message))
                case "reset":
                    return await self.reset(WSResetMessage(**message))
                case "state":
                    WSStateMessage(**message)
                    state = self.env.state
                    data = state.model_dump() if hasattr(state, "model_dump") else (dict(state) if state else {})
                    return WSStateResponse(data=data).model_dump_json()
                case "close":
                    WSCloseMessage(**message)
                    return None
                case "mcp":
                    return await self.mcp(WSMCPMessage(**message))
                case other:
                    return _error(WSErrorCode.UNKNOWN_TYPE, f"Unknown message type: {other}")
        except Exception as exc:
            return _failure(exc)

    async def step(self, msg: WSStepMessage) -> str:
        server, env = self.server, self.env
        action = deserialize_action(msg.data, server.action_cls)
        if self.async_step:
            observation = await env.step_async(action)
        else:
            observation = await server._run_in_session_executor(self.session_id, env.step, action)
        return self.stepped(observation)

    def stepped(self, observation: Any) -> str:
        """Count the step for the session's activity and write its observation."""
        self.server._update_session_activity(self.session_id, increment_step=True)
        return observation_reply(observation)

    async def reset(self, msg: WSResetMessage) -> str:
        server, env = self.server, self.env
        kwargs = server._get_valid_kwargs(self.reset_signature, msg.data)
        if self.async_reset:
            observation = await env.reset_async(**kwargs)
        else:
            observation = await server._run_in_session_executor(self.session_id, env.reset, **kwargs)
        server._update_session_activity(self.session_id)
        return observation_reply(observation)

    async def mcp(self, msg: WSMCPMessage) -> str:
        try:
            request = JsonRpcRequest(**msg.data)
        except Exception as exc:  # as OpenEnv: any bad request is a JSON-RPC error, not a WS error
            response = JsonRpcResponse.error_response(JsonRpcErrorCode.INVALID_REQUEST, f"Invalid request: {exc}")
        else:
            response = await self.mcp_handler(request, session_env=self.env, session_id=self.session_id)
        return WSMCPResponse(data=response.model_dump()).model_dump_json()


def _openenv_ws_route(app: FastAPI) -> tuple[int, Any]:
    for index, route in enumerate(app.router.routes):
        if getattr(route, "path", None) == WS_PATH and hasattr(route, "endpoint"):
            return index, route
    raise LookupError(f"no {WS_PATH} route to replace: call server.register_routes(app) first")


def install_ws_endpoint(app: FastAPI) -> None:
    """Replace the `/ws` route that `HTTPEnvServer.register_routes` added with `SessionSocket`s.

    The server and OpenEnv's MCP handler are taken from that route's endpoint, the closure that
    `register_routes` made. Any OpenEnv app works, including one from OpenEnv's own `create_app`.
    If openenv-core ever builds that route differently, this raises `LookupError` instead of
    serving something half-wired; tests/test_openenv_ws_endpoint.py checks the route is swapped.
    Calling it again changes nothing."""
    index, route = _openenv_ws_route(app)
    endpoint = route.endpoint
    if getattr(endpoint, "openenv_server", None) is not None:
        return  # already installed
    cells = dict(zip(endpoint.__code__.co_freevars, endpoint.__closure__ or ()))
    try:
        server, mcp_handler = cells["self"].cell_contents, cells["mcp_handler"].cell_contents
    except (KeyError, ValueError) as exc:
        raise LookupError(f"{WS_PATH} is not OpenEnv 0.3's websocket_endpoint (no {exc} in its closure)") from None

    async def ws_session(websocket: WebSocket) -> None:
        await SessionSocket(server, mcp_handler, websocket).run()

    ws_session.openenv_server = server  # type: ignore[attr-defined]  # marks the route as ours (install is idempotent)
    app.router.routes[index] = WebSocketRoute(WS_PATH, ws_session, name="ws_session")
