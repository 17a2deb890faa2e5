"""The optional bearer token (GHOSTEXEC_TOKEN): with it set, every route of the composed app but
/health refuses requests without it (HTTP and WebSocket, OpenEnv and MCP); without it, nothing
changes. Both ways, against real servers."""

from __future__ import annotations

import argparse
import json

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from reliability import assert_back_to_zero
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from ghostexec.cli import create_app
from mcp_server.testing import INIT, MCP_ACCEPT
from openenv_server.app import Settings, add_serve_arguments, settings_from_args
from openenv_server.auth import BearerTokenMiddleware
from openenv_server.client import GhostexecEnv
from openenv_server.limits import PayloadLimitMiddleware
from openenv_server.testing import running_server

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def protected():
    app = create_app(token=TOKEN)
    with running_server(app=app) as url:
        yield url, app


@pytest.fixture(autouse=True)
def _no_leaks(request):
    yield
    if "protected" in request.fixturenames:
        assert_back_to_zero(request.getfixturevalue("protected")[1])


def _every_http_target(app) -> list[tuple[str, str]]:
    """(method, path) for every route the app serves, plus the MCP endpoints and a page mounted later."""
    targets = set()
    for route in app.routes:
        path = getattr(route, "path", None)
        for method in getattr(route, "methods", None) or ():
            if path and method != "HEAD" and path != "/health":
                targets.add((method, path.replace("{episode_id}", "someid").replace("{req}", "x")))
    targets |= {
        ("POST", "/mcp"),
        ("GET", "/mcp"),
        ("POST", "/mcp-std/"),
        ("POST", "/mcp-std/episodes"),
        ("POST", "/mcp-std/episodes/my-day/"),
        ("GET", "/web"),  # issue #7's page (or a 404 today): covered the same way
        ("GET", "/no-such-route"),
    }
    return sorted(targets)


def test_without_the_token_every_route_but_health_is_401(protected):
    url, app = protected
    targets = _every_http_target(app)
    assert len(targets) >= 15
    with httpx.Client(base_url=url) as http:
        for method, path in targets:
            r = http.request(method, path, json={} if method in ("POST", "PUT") else None, headers=MCP_ACCEPT)
            assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
            assert r.headers["www-authenticate"].startswith("Bearer"), (method, path)
            detail = r.json()["detail"]
            assert detail["error"] == "unauthorized" and "GHOSTEXEC_TOKEN" in detail["message"]
        # a wrong token (or a wrong scheme) is refused too, with RFC 6750's invalid_token
        for headers in ({"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {TOKEN}x"}):
            r = http.get("/metadata", headers=headers)
            assert r.status_code == 401 and r.json()["detail"]["error"] == "invalid_token"
            assert 'error="invalid_token"' in r.headers["www-authenticate"]
        assert http.get("/metadata", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
        assert http.get("/metadata", params={"token": "nope"}).status_code == 401
        # /health stays open for health checks
        assert http.get("/health").json() == {"status": "healthy"}


def test_with_the_token_everything_works(protected):
    url, _app = protected
    with httpx.Client(base_url=url, headers=AUTH) as http:
        assert http.get("/metadata").status_code == 200
        created = http.post("/episodes", json={"task_id": "phase2_core"})
        assert created.status_code == 201
        eid = created.json()["id"]
        assert http.post(f"/episodes/{eid}/step", json={"action": {"action_type": "do_nothing"}}).status_code == 200
        assert http.delete(f"/episodes/{eid}").status_code == 200
        assert http.post("/mcp", json={}).json()["jsonrpc"] == "2.0"  # OpenEnv's JSON-RPC (openenv validate's probe)
        r = http.post("/mcp-std/", json=INIT, headers=MCP_ACCEPT)
        assert r.status_code == 200
        http.delete("/mcp-std/", headers={"mcp-session-id": r.headers["mcp-session-id"]})
    # ?token= for browsers, which cannot set headers on a page or a WebSocket
    assert httpx.get(url + "/metadata", params={"token": TOKEN}).status_code == 200


def test_websockets_need_the_token(protected):
    url, _app = protected
    ws = url.replace("http://", "ws://")
    for path in ("/ws", "/mcp"):
        with pytest.raises(InvalidStatus) as refused:
            ws_connect(ws + path, open_timeout=10)
        assert refused.value.response.status_code == 401
        assert json.loads(refused.value.response.body)["detail"]["error"] == "unauthorized"
        with pytest.raises(InvalidStatus):
            ws_connect(ws + path, additional_headers={"Authorization": "Bearer wrong"}, open_timeout=10)
    with ws_connect(ws + "/ws", additional_headers=AUTH, open_timeout=10) as conn:
        conn.send(json.dumps({"type": "reset", "data": {"task_id": "phase2_core"}}))
        assert json.loads(conn.recv(timeout=10))["type"] == "observation"
    with ws_connect(ws + f"/ws?token={TOKEN}", open_timeout=10) as conn:
        conn.send(json.dumps({"type": "reset", "data": {}}))
        assert json.loads(conn.recv(timeout=10))["type"] == "observation"
    # the typed client: a clear ConnectionError without the token, a normal episode with it
    with pytest.raises(ConnectionError, match="401"), GhostexecEnv(base_url=url).sync() as env:
        env.reset()
    with GhostexecEnv(base_url=url, token=TOKEN).sync() as env:
        assert env.reset(task_id="phase2_core").observation.step == 0
        assert env.step({"action_type": "do_nothing"}).observation.step == 1


@pytest.mark.anyio
async def test_mcp_sdk_client_with_the_token(protected):
    url, app = protected
    async with httpx.AsyncClient(headers=AUTH) as http, Client(streamable_http_client(url + "/mcp", http_client=http)) as client:
        tools = await client.list_tools()
        assert "do_nothing" in {t.name for t in tools.tools}
    day = url + "/mcp-std/episodes/auth-day/"
    async with httpx.AsyncClient(headers=AUTH) as http, Client(streamable_http_client(day, http_client=http)) as client:
        result = await client.call_tool("do_nothing", {})
        assert result.is_error is False and result.structured_content["step"] == 1
    app.state.mcp.registry.drop("auth-day")
    seen: list[int] = []

    async def record(response: httpx.Response) -> None:
        seen.append(response.status_code)

    async with httpx.AsyncClient(event_hooks={"response": [record]}) as http:
        with pytest.raises(Exception):  # noqa: B017 (the SDK reports it as a generic MCPError)
            async with Client(streamable_http_client(url + "/mcp", http_client=http)) as client:
                await client.list_tools()
    assert seen and set(seen) == {401}


def test_no_token_means_no_guard_and_open_routes():
    app = create_app()
    assert not any(m.cls is BearerTokenMiddleware for m in app.user_middleware)
    with running_server(app=app) as url:
        assert httpx.get(url + "/metadata").status_code == 200
        assert httpx.post(url + "/episodes", json={}).status_code == 201  # (deleted with the server)
        app.state.episode_store.close_all()


def test_guard_is_installed_once_and_outermost():
    app = create_app(token=TOKEN)
    classes = [m.cls for m in app.user_middleware]
    assert classes.count(BearerTokenMiddleware) == 1 and classes.count(PayloadLimitMiddleware) == 1
    # the token guard first, then the body limit, then everything mounted (the MCP dispatcher, pages)
    assert classes[:2] == [BearerTokenMiddleware, PayloadLimitMiddleware]
    with pytest.raises(ValueError):
        BearerTokenMiddleware(app, token="")


def test_token_from_environment_or_flag_and_hidden_from_repr():
    s = Settings.from_env({"GHOSTEXEC_TOKEN": "abc"})
    assert s.token == "abc" and "abc" not in repr(s)
    assert Settings.from_env({"GHOSTEXEC_TOKEN": ""}).token is None
    parser = add_serve_arguments(argparse.ArgumentParser())
    assert settings_from_args(parser.parse_args([]), environ={"GHOSTEXEC_TOKEN": "env"}).token == "env"
    assert settings_from_args(parser.parse_args(["--token", "flag"]), environ={"GHOSTEXEC_TOKEN": "env"}).token == "flag"
    # what `ghostexec serve` builds from those settings is guarded
    app = create_app(Settings.from_env({"GHOSTEXEC_TOKEN": "abc"}))
    assert app.user_middleware[0].cls is BearerTokenMiddleware
