"""Helpers for tests and benchmarks: real servers on free loopback ports, and a scripted episode.

Not imported by the server itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from openenv_server.testing import free_port, stop_process, wait_for_http

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Headers and the first frame every raw Streamable HTTP test sends (shared by the test modules).
MCP_ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}


def sse_json(text: str) -> dict[str, Any]:
    """The JSON-RPC message in a Streamable HTTP response body: the last `data:` line of an SSE
    stream, or the body itself when the server answered with plain JSON."""
    data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    return json.loads(data[-1] if data else text)


@contextlib.contextmanager
def serve_in_thread(app: Any, port: int | None = None) -> Iterator[str]:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a daemon thread; yields the base URL."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def serve_in_subprocess(
    args: list[str], port: int, health_path: str = "/health", env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start `args` (a server listening on `port`), wait for GET health_path, stop it at the end."""
    proc = subprocess.Popen(
        args, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(base + health_path, timeout_s=60, proc=proc)
        yield base
    finally:
        stop_process(proc)


def stdio_params(task: str | None = None, seed: int = 0, episode_id: str | None = None) -> Any:
    """StdioServerParameters for `python -m mcp_server` with this interpreter."""
    from mcp.client.stdio import StdioServerParameters

    args = ["-m", "mcp_server", "--seed", str(seed)]
    if task:
        args += ["--task", task]
    if episode_id:
        args += ["--episode-id", episode_id]
    return StdioServerParameters(command=sys.executable, args=args, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})


def scripted_actions(sim: Any) -> list[dict[str, Any]]:
    """A scenario-independent script over the live ids of a freshly reset `sim`: every action type,
    at least 15 step-taking actions, some invalid in meaning (they cost a step) and some invalid in
    shape (rejected, no step). Each item is a raw action dict as an agent would send it."""
    st = sim.state()
    emails = [e.id for e in st.emails]
    clock = st.clock if isinstance(st.clock, datetime) else datetime.fromisoformat(str(st.clock))
    future = [m for m in st.meetings if m.start > clock + timedelta(hours=2)]
    meetings = [m.id for m in future if m.movable] + [m.id for m in future if not m.movable] + [m.id for m in st.meetings]
    tasks = [t.id for t in st.tasks]
    contacts = [c.id for c in st.contacts]

    def pick(ids: list[str], i: int, none: str) -> str:
        return ids[i] if -len(ids) <= i < len(ids) else none

    e0, e1, e2, e_last = (pick(emails, i, "e-none") for i in (0, 1, 2, -1))
    m0, m_last = pick(meetings, 0, "m-none"), pick(meetings, 1, "m-none")
    t0, t1, t_last = (pick(tasks, i, "t-none") for i in (0, 1, -1))
    c0, c1, c2 = (pick(contacts, i, "c-none") for i in (0, 1, 2))
    later = (clock + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M")
    return [
        {
            "action_type": "reply_email",
            "email_id": e0,
            "body": "Thank you. I'll confirm by noon today with the details you asked for.",
        },
        {"action_type": "reply_email", "email_id": e0},  # shape: body missing
        {"action_type": "archive_email", "email_id": e_last},
        {"action_type": "reply_email", "email_id": "e-does-not-exist", "body": "Hello"},  # meaning: unknown id
        {"action_type": "complete_task", "task_id": t0},
        {"action_type": "delegate_task", "task_id": t1, "contact_id": c1, "note": "Please own this; report back by 3pm."},
        {
            "action_type": "send_message",
            "contact_id": c0,
            "body": "Sorry for the late change today; thank you for bearing with us.",
        },
        {"action_type": "send_message", "contact_id": c0, "body": "hi", "channel": "pigeon"},  # shape: bad channel
        {"action_type": "reschedule_meeting", "meeting_id": m0, "new_start": later},
        {"action_type": "reschedule_meeting", "meeting_id": m0, "new_start": "not-a-date"},  # meaning: bad datetime
        {"action_type": "do_nothing"},
        {"action_type": "cancel_meeting", "meeting_id": m_last, "reason": "Clashes with a customer escalation; will rebook."},
        {"action_type": "archive_email", "email_id": e1, "extra": 1},  # shape: unknown field
        {"action_type": "reply_email", "email_id": e1, "body": ""},  # meaning: empty body
        {"action_type": "complete_task", "task_id": t0},
        {"action_type": "delegate_task", "task_id": "t-does-not-exist", "contact_id": c0},  # meaning
        {"action_type": "reply_email", "email_id": e2, "body": "Approved. Please go ahead, and copy me on the confirmation."},
        {"action_type": "send_message", "contact_id": c2, "body": "Quick heads-up: the afternoon plan moved; details by email."},
        {"action_type": "do_nothing"},
        {"action_type": "complete_task", "task_id": t_last},
    ]
