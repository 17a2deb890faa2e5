"""Shared helpers for the reliability and security tests (issue #6): live-object counts of a running
app, read in process, and a check that they return to zero after a test."""

from __future__ import annotations

import time
from typing import Any

import pytest

from ghostexec.cli import create_app
from openenv_server.testing import running_server


def live_counts(app: Any) -> dict[str, int]:
    """Live OpenEnv WS sessions, /episodes episodes and (when mounted) MCP sessions and episodes."""
    counts = {
        "ws_sessions": app.state.openenv_server.active_sessions,
        "http_episodes": len(app.state.episode_store),
    }
    mcp = getattr(app.state, "mcp", None)
    if mcp is not None:
        counts["mcp_sessions"] = len(mcp.session_manager._server_instances)
        counts["mcp_episodes"] = len(mcp.registry)
    return counts


def assert_back_to_zero(app: Any, timeout_s: float = 10.0) -> None:
    """Wait (a closed socket takes a moment to be noticed) until nothing is live; fail naming what leaked."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = live_counts(app)
        if not any(counts.values()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"leaked after the test: {counts}")
        time.sleep(0.05)


def live_app_fixtures(name: str = "live", **app_options: Any) -> tuple[Any, Any]:
    """A module's two fixtures: `name`, one real server of `create_app(**app_options)` for the whole
    module, yielding (url, app); and an autouse check that every test leaves nothing live on it.

        live, _no_leaks = live_app_fixtures()
    """

    @pytest.fixture(scope="module", name=name)
    def _serve():
        app = create_app(**app_options)
        with running_server(app=app) as url:
            yield url, app

    @pytest.fixture(autouse=True)
    def _no_leaks(request):
        app = request.getfixturevalue(name)[1]
        yield
        assert_back_to_zero(app)

    return _serve, _no_leaks
