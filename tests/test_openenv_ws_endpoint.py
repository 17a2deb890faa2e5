"""openenv_server.ws_endpoint: our /ws endpoint speaks OpenEnv's protocol byte for byte, only faster.

OpenEnv's own handler is the reference. Both serve the same environment in process (Starlette's
TestClient, no sockets), get the same messages, and must give the same replies. The one intended
difference, a JSON message that is not an object, is tested on its own.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openenv.core.env_server.http_server import HTTPEnvServer
from openenv.core.env_server.http_server import create_app as openenv_create_app
from openenv.core.env_server.serialization import serialize_observation
from openenv.core.env_server.types import Observation, WSObservationResponse
from starlette.testclient import TestClient

import ghostexec
from bench.echo_env import EchoAction, EchoEnv, EchoObservation
from ghostexec.policies import POLICIES
from openenv_server.app import create_app
from openenv_server.environment import GhostexecEnvironment
from openenv_server.models import GhostexecAction, GhostexecObservation
from openenv_server.ws_endpoint import install_ws_endpoint, observation_reply


def openenv_reference(env_cls: Any, action_cls: Any, obs_cls: Any) -> FastAPI:
    """An app whose /ws is OpenEnv 0.3.0's own handler."""
    app = FastAPI()
    HTTPEnvServer(env_cls, action_cls, obs_cls, max_concurrent_envs=4).register_routes(app)
    return app


def ws_route(app: FastAPI) -> Any:
    (route,) = [r for r in app.router.routes if getattr(r, "path", None) == "/ws"]
    return route


def replies(app: FastAPI, messages: list[Any]) -> list[str]:
    out = []
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        for message in messages:
            ws.send_text(message if isinstance(message, str) else json.dumps(message))
            if message == {"type": "close"}:
                break
            out.append(ws.receive_text())
    return out


# Every message type and every error path OpenEnv's handler has, in one session.
GHOSTEXEC_SCRIPT: list[Any] = [
    {"type": "step", "data": {"action_type": "do_nothing"}},  # before any reset: EXECUTION_ERROR
    {"type": "state"},
    {"type": "reset", "data": {"task_id": "phase2_core", "seed": 3, "episode_id": "parity"}},
    {"type": "step", "data": {"action_type": "archive_email", "email_id": "no-such"}},
    {"type": "step", "data": {"action_type": "do_nothing"}},
    {"type": "step", "data": {"action_type": "teleport"}},
    {"type": "step", "data": {"action_type": "reply_email", "email_id": 1, "body": "x"}},
    {"type": "step", "data": "do_nothing"},
    {"type": "step"},
    {"type": "step", "data": {"action_type": "do_nothing"}, "extra": 1},
    '{"type": "step", "data": {"action_type": "complete_task", "task_id": NaN}}',
    "{not json",
    {"type": "dance"},
    {},
    {"type": "reset", "data": {"task_id": "no_such_task"}},
    {"type": "reset", "data": {"seed": "seven"}},
    {"type": "reset", "data": {"scenario": {"id": "half"}}},
    {"type": "state"},
    {"type": "mcp", "data": {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}},
    {"type": "mcp", "data": {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "x"}}},
    {"type": "mcp", "data": {"jsonrpc": "2.0", "id": 3, "method": "openenv/session/create", "params": {}}},
    {"type": "mcp", "data": {"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": []}},
    {"type": "mcp", "data": {"no": "method"}},
    {"type": "mcp"},
    {"type": "reset", "data": {"task_id": "travel_day", "seed": 1}},
    {"type": "close"},
]


def _without_session_ids(reply: str) -> str:
    """Session ids are random uuids: the one place two servers may differ."""
    message = json.loads(reply)
    result = message.get("data", {}).get("result")
    if isinstance(result, dict) and "session_id" in result:
        result["session_id"] = "<session>"
    return json.dumps(message)


def test_ghostexec_replies_are_byte_identical_to_openenvs_own_handler():
    theirs = replies(openenv_reference(GhostexecEnvironment, GhostexecAction, GhostexecObservation), GHOSTEXEC_SCRIPT)
    ours = replies(create_app(), GHOSTEXEC_SCRIPT)
    assert len(ours) == len(theirs) == len(GHOSTEXEC_SCRIPT) - 1
    kinds = {json.loads(r)["type"] for r in ours}
    assert kinds == {"observation", "error", "state", "mcp"}, kinds  # the script reached every path
    for message, mine, reference in zip(GHOSTEXEC_SCRIPT, ours, theirs):
        if "session/create" in json.dumps(message):
            mine, reference = _without_session_ids(mine), _without_session_ids(reference)
        assert mine == reference, f"reply to {message!r} differs"


def test_a_synchronous_environment_still_steps_on_its_session_thread_with_the_same_replies():
    """EchoEnv (the bench's transport floor) only defines sync step/reset: OpenEnv runs them on
    the session's executor thread, and so must we."""
    script = [{"type": "reset", "data": {}}, *({"type": "step", "data": {"message": f"m{i}"}} for i in range(3))]
    script += [{"type": "step", "data": {"message": 5}}, {"type": "state"}]

    on_loop: list[bool] = []  # per step: was it called on the event loop's thread?

    class Spy(EchoEnv):
        def step(self, action, timeout_s=None, **kw):
            try:
                asyncio.get_running_loop()
                on_loop.append(True)
            except RuntimeError:
                on_loop.append(False)
            return super().step(action, timeout_s=timeout_s, **kw)

    reference = replies(openenv_reference(Spy, EchoAction, EchoObservation), script)
    assert on_loop == [False] * 3
    on_loop.clear()
    app = openenv_create_app(Spy, EchoAction, EchoObservation, max_concurrent_envs=4)
    install_ws_endpoint(app)
    assert replies(app, script) == reference
    assert on_loop == [False] * 3, "a synchronous step ran on the event loop"


@pytest.mark.parametrize("message", ["[]", '"step"', "5", "null", "[1, 2]"])
def test_a_json_message_that_is_not_an_object_is_a_validation_error_and_the_session_goes_on(message):
    # OpenEnv's own handler ends the session here (SESSION_ERROR, socket closed).
    script = [
        {"type": "reset", "data": {"task_id": "phase2_core"}},
        message,
        {"type": "step", "data": {"action_type": "do_nothing"}},
    ]
    first, error, step = (json.loads(r) for r in replies(create_app(), script))
    assert first["type"] == "observation"
    assert error["type"] == "error" and error["data"]["code"] == "VALIDATION_ERROR"
    assert error["data"]["errors"][0]["type"] == "model_type", error  # "should be a valid dictionary"
    assert step["type"] == "observation" and step["data"]["observation"]["step"] == 1


def test_create_app_serves_ws_with_our_endpoint_and_install_is_idempotent():
    app = create_app()
    route = ws_route(app)
    assert route.name == "ws_session"
    assert route.endpoint.openenv_server is app.state.openenv_server
    install_ws_endpoint(app)
    assert ws_route(app) is route
    with pytest.raises(LookupError, match="no /ws route"):
        install_ws_endpoint(FastAPI())

    bare = FastAPI()

    @bare.websocket("/ws")
    async def not_openenv(websocket):  # a /ws that is not OpenEnv's: refuse rather than guess
        await websocket.close()

    with pytest.raises(LookupError, match="not OpenEnv"):
        install_ws_endpoint(bare)


def test_capacity_and_session_bookkeeping_go_through_openenvs_server():
    app = create_app()
    server = app.state.openenv_server
    with TestClient(app) as client:
        with client.websocket_connect("/ws") as ws:
            ws.send_text(json.dumps({"type": "reset", "data": {"task_id": "phase2_core"}}))
            ws.receive_text()
            ws.send_text(json.dumps({"type": "step", "data": {"action_type": "do_nothing"}}))
            ws.receive_text()
            assert server.active_sessions == 1
            (info,) = server._session_info.values()
            assert info.step_count == 1
        assert server.active_sessions == 0, "a closed connection frees its slot"


# --- observation_reply: orjson where the bytes are the same, pydantic otherwise ---------------
@pytest.mark.parametrize("policy", ["random", "greedy_state"])
def test_real_observations_serialise_byte_identically_for_every_scenario(policy):
    checked = 0
    for task in ghostexec.available_tasks():
        env = GhostexecEnvironment()
        rng = random.Random(f"{task}/{policy}")
        observations = [env.reset(task_id=task, seed=7)]
        while not observations[-1].done:
            observations.append(env.step(POLICIES[policy](env.simulation, rng)))
        assert observations[-1].grade is not None
        for obs in observations:
            assert observation_reply(obs) == WSObservationResponse(data=serialize_observation(obs)).model_dump_json()
            checked += 1
    assert checked > 100


class Anything(Observation):
    value: Any = None


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e16, 1e-7, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 123456789.0, 1e22, 1e21])
    | st.text()
    | st.datetimes()
    | st.datetimes(timezones=st.just(UTC))
)
json_values = st.recursive(
    json_leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values, reward=st.none() | st.floats(allow_nan=True) | st.integers(-5, 5), done=st.booleans())
def test_generated_observations_serialise_byte_identically(value, reward, done):
    obs = Anything(value=value, reward=reward, done=done)
    try:
        reference = WSObservationResponse(data=serialize_observation(obs)).model_dump_json()
    except Exception as exc:  # pydantic itself cannot write it (e.g. a lone surrogate): neither may we
        with pytest.raises(type(exc)):
            observation_reply(obs)
        return
    assert observation_reply(obs) == reference


def test_values_orjson_would_write_differently_fall_back_to_pydantic():
    odd = {
        "aware": datetime(2026, 3, 10, 9, 0, tzinfo=UTC),  # orjson: +00:00, pydantic: Z
        "huge": 2**80,  # beyond orjson's 64-bit ints
        "nan": math.nan,
    }
    obs = Anything(value=odd)
    assert observation_reply(obs) == WSObservationResponse(data=serialize_observation(obs)).model_dump_json()
    assert '"aware":"2026-03-10T09:00:00Z"' in observation_reply(obs)
