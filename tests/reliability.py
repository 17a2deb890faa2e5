"""Shared helpers for the reliability and security tests (issue #6): live-object counts of a running
app, read in process, and a check that they return to zero after a test."""

from __future__ import annotations

import time
from typing import Any


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
