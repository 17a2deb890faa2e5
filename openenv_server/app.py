"""The OpenEnv app: OpenEnv's routes over `GhostexecEnvironment`, plus Ghostexec's own.

    from openenv_server.app import Settings, create_app, serve
    app = create_app(Settings.from_env(max_sessions=128))   # FastAPI; mount more on it if you like
    serve(app, Settings.from_env(host="127.0.0.1", port=8000))

Routes (see docs/openenv.md): `/ws` (the way to run episodes: OpenEnv's protocol and sessions, answered
by `ws_endpoint.SessionSocket`), `/health`, `/metadata`,
`/schema`, `/state`, `POST /mcp`, WS `/mcp`; Ghostexec's `POST /reset` and `POST /step` (stateless,
never 500: see `_reset`/`_step`), the stateful `/episodes` routes and `GET /capacity`.

Idle vs dead connections: OpenEnv's own idle reaper is left off (it also closes live sockets that
are merely idle, e.g. while an LLM thinks). Dead peers are found by WebSocket ping/pong instead:
uvicorn pings every `ws_ping_interval_s` and drops a connection whose pong is `ws_ping_timeout_s`
late, which ends the session and frees its slot.

Every option has a CLI flag (`add_serve_arguments`) and an environment variable (`Settings.from_env`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Body, FastAPI, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from openenv.core.env_server.http_server import HTTPEnvServer
from openenv.core.env_server.serialization import serialize_observation
from openenv.core.env_server.types import ResetRequest, ResetResponse, SchemaResponse, StepRequest, StepResponse
from pydantic import ValidationError
from starlette.middleware import Middleware

import ghostexec

from .auth import protect
from .environment import GhostexecEnvironment, ResetError
from .episodes import EpisodeStore, register_episode_routes
from .errors import install_handlers, validation_errors
from .eventloop import default_spin_us, loop_factory
from .limits import PayloadLimitMiddleware
from .models import GhostexecAction, GhostexecObservation, GhostexecState
from .ws_endpoint import install_ws_endpoint

ENV_PREFIX = "GHOSTEXEC_"
MAX_SPIN_US = 10_000  # polling longer than this between messages is burning a core, not saving latency


@dataclass(frozen=True)
class Settings:
    """Server options. Environment variable: GHOSTEXEC_<NAME upper-cased>; CLI flag: --<name with dashes>."""

    host: str = "127.0.0.1"
    port: int = 8000
    max_sessions: int = 64  # concurrent WebSocket sessions (one simulation each)
    max_episodes: int = 256  # live stateful HTTP episodes (/episodes)
    episode_ttl_s: float = 1800.0  # an HTTP episode unused this long expires
    max_body_bytes: int = 262144  # HTTP bodies and WS messages (a whole custom scenario is ~26 KB today)
    ws_ping_interval_s: float = 20.0  # keepalive ping period; a dead peer is dropped ...
    ws_ping_timeout_s: float = 20.0  # ... when its pong is this late (so freed within interval + timeout)
    ws_compression: bool = False  # permessage-deflate: costs ~0.25 ms per 10 KB briefing on each side
    log_level: str = "info"
    max_mcp_sessions: int = 256  # concurrent MCP sessions (handshake era, Streamable HTTP); one more gets 503
    token: str | None = field(default=None, repr=False)  # bearer token for every route but /health (auth.py)
    spin_us: int = field(default_factory=default_spin_us)  # poll this long before sleeping while a client replies fast (eventloop.py)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then GHOSTEXEC_* environment variables, then non-None `overrides`."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and raw != "":
                values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        problems = []
        if self.max_sessions < 1:
            problems.append("max_sessions must be >= 1")
        if self.max_episodes < 1:
            problems.append("max_episodes must be >= 1")
        if self.episode_ttl_s <= 0:
            problems.append("episode_ttl_s must be > 0")
        if self.max_body_bytes < 1024:
            problems.append("max_body_bytes must be >= 1024")
        if self.ws_ping_interval_s <= 0 or self.ws_ping_timeout_s <= 0:
            problems.append("ws_ping_interval_s and ws_ping_timeout_s must be > 0")
        if self.max_mcp_sessions < 1:
            problems.append("max_mcp_sessions must be >= 1")
        if not (0 <= self.spin_us <= MAX_SPIN_US):
            problems.append(f"spin_us must be in 0..{MAX_SPIN_US} (microseconds; 0 turns polling off)")
        if not (0 <= self.port <= 65535):
            problems.append("port must be in 0..65535")
        if problems:
            raise ValueError("; ".join(problems))


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _kind(typ: Any) -> type:
    return typ if isinstance(typ, type) else _TYPES.get(str(typ), str)


def _convert(name: str, typ: Any, raw: str) -> Any:
    kind = _kind(typ)
    if kind is bool:
        if raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from None


def add_serve_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add --host, --port, --max-sessions, ... (defaults: None, so GHOSTEXEC_* variables apply)."""
    helps = {
        "host": "bind address (default 127.0.0.1; the Docker image uses 0.0.0.0)",
        "port": "port (default 8000; Hugging Face Spaces use 7860)",
        "max_sessions": "concurrent WebSocket sessions (default 64)",
        "max_episodes": "live stateful HTTP episodes under /episodes (default 256)",
        "episode_ttl_s": "seconds an idle HTTP episode lives (default 1800)",
        "max_body_bytes": "largest HTTP body / WS message in bytes (default 262144)",
        "ws_ping_interval_s": "WebSocket keepalive ping period in seconds (default 20)",
        "ws_ping_timeout_s": "drop a WebSocket whose pong is this many seconds late (default 20)",
        "ws_compression": "offer permessage-deflate on WebSockets (default off: on loopback/LAN it costs more CPU than it saves)",
        "log_level": "uvicorn log level (default info)",
        "max_mcp_sessions": "concurrent MCP sessions over Streamable HTTP (default 256)",
        "token": "require 'Authorization: Bearer TOKEN' (or ?token=) on every route except /health (default: none; "
        "prefer the env variable, a flag shows in the process list)",
        "spin_us": "microseconds to poll before sleeping while a client replies fast: lower step latency for "
        "one fast client, one busy core while it lasts (default 250 with 2+ CPUs, else 0; 0 turns it off)",
    }
    for f in dataclasses.fields(Settings):
        kind = _kind(f.type)
        help_text = f"{helps.get(f.name, '')} [env {ENV_PREFIX}{f.name.upper()}]"
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=kind, default=None, help=help_text)
    return parser


def settings_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None) -> Settings:
    return Settings.from_env(environ, **{f.name: getattr(args, f.name, None) for f in dataclasses.fields(Settings)})


def _drop_routes(app: FastAPI, targets: set[tuple[str, str]]) -> None:
    def keep(route: Any) -> bool:
        if isinstance(route, APIRoute):
            return not any((route.path, m) in targets for m in route.methods)
        return True

    app.router.routes[:] = [r for r in app.router.routes if keep(r)]


def create_app(
    settings: Settings | None = None,
    *,
    simulation_factory: Callable[[], Any] | None = None,
    **overrides: Any,
) -> FastAPI:
    """Build the FastAPI app (OpenEnv routes + episode routes + limits). `overrides` are Settings
    fields (e.g. `max_sessions=128`) applied over `settings` (default: `Settings.from_env()`)."""
    if settings is None:
        settings = Settings.from_env(**overrides)
    elif overrides:
        settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        settings.check()

    def env_factory() -> GhostexecEnvironment:
        return GhostexecEnvironment(simulation_factory)

    app = FastAPI(
        title="Ghostexec OpenEnv API",
        version=ghostexec.__version__,
        description=(
            "A simulated executive workday served as an OpenEnv environment. Run episodes over the "
            "WebSocket at /ws (OpenEnv's EnvClient, or `openenv_server.client.GhostexecEnv`), or over "
            "stateful HTTP at /episodes. POST /reset and POST /step are stateless: see docs/openenv.md."
        ),
    )
    # No session_timeout: OpenEnv's reaper would also close live-but-idle sockets. Dead peers are
    # detected by ping/pong (see module docstring).
    server = HTTPEnvServer(
        env_factory if simulation_factory is not None else GhostexecEnvironment,
        GhostexecAction,
        GhostexecObservation,
        max_concurrent_envs=settings.max_sessions,
    )
    server.register_routes(app)
    install_ws_endpoint(app)  # same protocol and sessions, cheaper replies (ws_endpoint.py)
    _drop_routes(app, {("/reset", "POST"), ("/step", "POST"), ("/schema", "GET")})

    store = EpisodeStore(max_episodes=settings.max_episodes, idle_ttl_s=settings.episode_ttl_s, env_factory=env_factory)
    _add_ghostexec_routes(app, server, store, env_factory)
    register_episode_routes(app, store)
    install_handlers(app)
    app.state.settings = settings
    install_guards(app)  # composers that add middleware (MCP, pages) call it again afterwards
    app.state.openenv_server = server
    app.state.episode_store = store
    return app


def install_guards(app: FastAPI) -> None:
    """Put the bearer-token guard (when `token` is set) and then the payload limit in front of every
    middleware added so far, so whatever a composer mounted since (the MCP dispatcher, pages) sits
    behind both. Idempotent: call it again after adding middleware (`ghostexec.cli.create_app` does)."""
    settings: Settings = app.state.settings
    stack = app.user_middleware
    stack[:] = [m for m in stack if m.cls is not PayloadLimitMiddleware]
    stack.insert(0, Middleware(PayloadLimitMiddleware, max_body_bytes=settings.max_body_bytes))
    protect(app, settings.token)


def _add_ghostexec_routes(
    app: FastAPI, server: HTTPEnvServer, store: EpisodeStore, env_factory: Callable[[], GhostexecEnvironment]
) -> None:
    how_to = {
        "websocket": "connect to /ws, send {'type':'reset','data':{'task_id':...}}, then {'type':'step','data':{action}} (or use openenv_server.client.GhostexecEnv)",
        "http": "POST /episodes {'task_id':...} -> id; POST /episodes/{id}/step {'action':{...}}; GET /episodes/{id}; DELETE /episodes/{id}",
    }

    @app.post(
        "/reset",
        response_model=ResetResponse,
        tags=["Environment Control"],
        summary="Preview an episode's first observation (stateless)",
        description=(
            "Stateless, as in OpenEnv: builds a fresh environment, resets it with the given options "
            "(task_id, seed, episode_id, scenario) and returns the first observation; nothing is kept. "
            "To run an episode use the WebSocket /ws or POST /episodes."
        ),
        responses={422: {"description": "Invalid option, unknown task_id or invalid scenario"}},
    )
    async def _reset(request: ResetRequest = Body(default_factory=ResetRequest)) -> Any:
        env = env_factory()
        try:
            obs = await run_in_threadpool(lambda: env.reset(**request.model_dump(exclude_unset=True)))
        except ResetError as exc:
            return JSONResponse(status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": exc.detail()})
        finally:
            env.close()
        return JSONResponse(
            content=jsonable_encoder(ResetResponse(**serialize_observation(obs))),
            headers={"X-Ghostexec-Stateless": "true; run episodes over /ws or /episodes"},
        )

    @app.post(
        "/step",
        response_model=StepResponse,
        tags=["Environment Control"],
        summary="Step an HTTP episode (OpenEnv's /step is stateless)",
        description=(
            "OpenEnv's POST /step acts on a brand-new environment, so on its own it cannot continue an "
            "episode started by POST /reset. Here: the action is shape-checked first (422 if invalid); "
            "then, if the body carries `episode_id` = an id from POST /episodes, that episode is stepped; "
            "otherwise the answer is 409 `no_episode`, explaining how to run an episode."
        ),
        responses={
            404: {"description": "episode_id given but not a live /episodes id"},
            409: {"description": "No episode to step: use /ws or /episodes"},
            422: {"description": "Action shape error"},
        },
    )
    async def _step(request: StepRequest) -> Any:
        try:
            GhostexecAction.model_validate(request.action)
        except ValidationError as exc:
            raise HTTPException(
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=validation_errors(exc),
            ) from None
        eid = (request.model_extra or {}).get("episode_id")
        if not isinstance(eid, str) or not eid:
            raise HTTPException(
                status_code=status.HTTP_409_CONFLICT,
                detail={
                    "error": "no_episode",
                    "message": (
                        "POST /step is stateless in OpenEnv: each request gets a brand-new environment, so it "
                        "cannot continue the episode a POST /reset showed. Run an episode over the WebSocket "
                        "/ws, or create one with POST /episodes and pass its id here as 'episode_id' (or use "
                        "POST /episodes/{id}/step)."
                    ),
                    "how_to": how_to,
                },
            )
        obs = await run_in_threadpool(store.step, eid, request.action)
        return StepResponse(**serialize_observation(obs))

    @app.get(
        "/schema",
        response_model=SchemaResponse,
        tags=["Schema"],
        summary="JSON schemas: the action union, the observation and the state",
    )
    async def _schema() -> SchemaResponse:
        return SchemaResponse(
            action=GhostexecAction.model_json_schema(),
            observation=GhostexecObservation.model_json_schema(),
            state=GhostexecState.model_json_schema(),
        )

    @app.get("/capacity", tags=["Health"], summary="Live WebSocket sessions and HTTP episodes vs their limits")
    async def _capacity() -> dict[str, Any]:
        settings: Settings = app.state.settings
        mcp = getattr(app.state, "mcp", None)  # set when MCP is mounted (ghostexec serve)
        return {
            **({"mcp": mcp.capacity()} if hasattr(mcp, "capacity") else {}),
            "sessions": {"active": server.active_sessions, "max": server.max_concurrent_envs},
            "episodes": {"live": len(store), "max": store.max_episodes, "idle_ttl_s": store.idle_ttl_s},
            "limits": {
                "max_body_bytes": settings.max_body_bytes,
                "ws_ping_interval_s": settings.ws_ping_interval_s,
                "ws_ping_timeout_s": settings.ws_ping_timeout_s,
                "ws_compression": settings.ws_compression,
            },
        }


def uvicorn_config(app: Any, settings: Settings, **extra: Any) -> Any:
    """The uvicorn Config `serve` uses (tests and the bench use it too, so all run the same way).
    WebSockets use uvicorn's sans-I/O protocol with batched read flow control and coalesced writes
    (openenv_server.websocket); pass `ws="websockets-sansio"` for uvicorn's own. The event loop
    polls for `settings.spin_us` before sleeping while a client replies fast
    (openenv_server.eventloop); pass `loop="auto"` for uvicorn's own."""
    import uvicorn

    from .websocket import BatchedFlowWebSocketProtocol

    extra.setdefault("ws", BatchedFlowWebSocketProtocol)
    extra.setdefault("loop", loop_factory(settings.spin_us))
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        ws_per_message_deflate=settings.ws_compression,
        # Above the app-level limit, so oversized messages get a structured error frame from
        # PayloadLimitMiddleware (session kept); only far larger frames are cut with code 1009.
        ws_max_size=max(16 * settings.max_body_bytes, 1 << 20),
        timeout_keep_alive=30,
        **extra,
    )


def serve(app: Any = None, settings: Settings | None = None, **overrides: Any) -> None:
    """Run `app` (default: `create_app(settings)`) under uvicorn until interrupted."""
    import uvicorn

    if settings is None:
        settings = Settings.from_env(**overrides)
    elif overrides:
        settings = dataclasses.replace(settings, **{k: v for k, v in overrides.items() if v is not None})
        settings.check()
    if app is None:
        app = create_app(settings)
    tune_runtime()
    uvicorn.Server(uvicorn_config(app, settings)).run()


GC_YOUNG_THRESHOLD = 100_000  # net new container objects before a young collection (CPython's default: 700)


def tune_runtime() -> None:
    """Process-level GC tuning for a long-running server (called by `serve`). Freeze the start-up
    heap (modules, schemas) so no collection rescans it, and collect the young generation only
    after GC_YOUNG_THRESHOLD net new container objects.

    Why so high: a serving process's heap is dozens of live worlds that are replaced as episodes
    end, so allocations and frees balance and the collector finds nothing to free (no step or
    reset makes reference cycles), yet each young collection still walks every world object born
    since the last one. At 10,000 that was ~9-11 µs of collector time per step at 64 sessions (~5%
    of the server's CPU; a 7-10 ms pause every ~1,000 steps); at 100,000 it is ~0, with a rare
    longer pause. Cyclic garbage from elsewhere (connections, errors) still gets collected once
    it passes the threshold. Numbers: docs/openenv.md, "Garbage collection"."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 50)


def main(argv: list[str] | None = None) -> int:
    """`python -m openenv_server [--host ... --port ...]`: the OpenEnv app alone."""
    parser = add_serve_arguments(
        argparse.ArgumentParser(prog="python -m openenv_server", description="Serve Ghostexec as an OpenEnv environment.")
    )
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    serve(settings=settings)
    return 0


def __getattr__(name: str) -> Any:  # `uvicorn openenv_server.app:app` builds the default app lazily
    if name == "app":
        value = create_app()
        globals()["app"] = value
        return value
    raise AttributeError(name)
