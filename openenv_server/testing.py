"""Helpers to run the real app under uvicorn on a free loopback port (tests, bench, examples).

with running_server(max_sessions=8) as base_url:      # uvicorn in a background thread
    ...
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

from .app import Settings, create_app, uvicorn_config


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(
    app: Any = None, settings: Settings | None = None, *, timeout_s: float = 20.0, **overrides: Any
) -> Iterator[str]:
    """Serve `app` (default `create_app(settings)`) with the same uvicorn config as `serve`, on
    127.0.0.1 and a free port, in a daemon thread; yields the base URL and stops the server after."""
    import uvicorn

    overrides.setdefault("host", "127.0.0.1")
    overrides.setdefault("port", free_port())
    overrides.setdefault("log_level", "warning")
    settings = Settings.from_env(**overrides) if settings is None else Settings(**{**settings.__dict__, **overrides})
    if app is None:
        app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{settings.port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on {settings.host}:{settings.port}")
        time.sleep(0.02)
    try:
        yield f"http://{settings.host}:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Stop a server started in a subprocess: SIGTERM (uvicorn shuts down cleanly), then SIGKILL
    if it has not exited within `timeout_s`."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_http(url: str, timeout_s: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Poll `url` until it answers 200 (for servers started in a subprocess). Given the server's
    `proc`, fail as soon as it exits, and on failure kill it and put the end of its stderr (when
    piped) in the error."""
    import httpx

    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    why = f"{url} did not answer 200 within {timeout_s} s ({last})"
    if proc is not None:
        exited = proc.poll()
        proc.kill()
        err = proc.communicate()[1] if proc.stderr is not None else None
        if isinstance(err, bytes):
            err = err.decode(errors="replace")
        why = (f"the server exited with code {exited}" if exited is not None else why) + (f": {err[-2000:]}" if err else "")
    raise RuntimeError(why)
