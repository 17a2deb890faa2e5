#!/usr/bin/env python3
"""WebSocket step latency and throughput: Ghostexec vs a trivial OpenEnv environment (the floor).

Both servers run the same way: a uvicorn subprocess on a free loopback port with
`openenv_server.app.uvicorn_config` (same keepalive, frame limits, no permessage-deflate, payload
middleware, GC tuning). Ghostexec is
the app `ghostexec serve` runs (OpenEnv + /episodes + MCP mount); the floor is OpenEnv's
`create_app` over an echo environment. A third server, "payload", is the same trivial environment
returning one real Ghostexec observation (~10 KB briefing + breakdown) on every step: it shows
how much of the gap is the size of what Ghostexec must send rather than the simulation. Clients are raw `websockets` asyncio connections in one
client process, sending `{"type": "step", ...}` and waiting for each reply.

    .venv/bin/python bench/ws_bench.py                         # defaults
    .venv/bin/python bench/ws_bench.py --steps 3000 --seconds 5 --sessions 1 8 64
    .venv/bin/python bench/ws_bench.py --json results.json

All servers are up for the whole run and every measurement alternates between them (sequential:
blocks of steps in turn; concurrent: floor then Ghostexec at each level), so background load on a
shared host skews both alike. Reported: sequential step latency (one session: median, p90, p99)
and aggregate steps/s with N concurrent sessions (each loops step-after-step for --seconds; a Ghostexec session that finishes
its episode resets and carries on; resets take wall time but are not counted as steps). Every
Ghostexec session and episode has its own seed, so concurrent sessions are different worlds.
Targets (issue #3): sequential median <= 1.3x the floor; >= 5,000 steps/s at 64 sessions on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openenv_server.app import Settings  # noqa: E402
from openenv_server.testing import free_port, stop_process, wait_for_http  # noqa: E402

GHOSTEXEC_SERVER = """
import sys
from ghostexec.cli import create_app
from openenv_server.app import Settings, serve
settings = Settings.from_env(host="127.0.0.1", port=int(sys.argv[1]), max_sessions=int(sys.argv[2]), log_level="warning")
serve(create_app(settings), settings)
"""

FLOOR_SERVER = """
import sys
from openenv.core.env_server.http_server import create_app
from openenv_server.app import Settings, tune_runtime, uvicorn_config
from openenv_server.limits import PayloadLimitMiddleware
import uvicorn
from bench.echo_env import EchoAction, EchoEnv, EchoObservation

ENV, ACTION, OBSERVATION = EchoEnv, EchoAction, EchoObservation
"""

PAYLOAD_SERVER = """
import sys
from openenv.core.env_server.http_server import create_app
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import State
from openenv_server.app import Settings, tune_runtime, uvicorn_config
from openenv_server.environment import GhostexecEnvironment
from openenv_server.limits import PayloadLimitMiddleware
from openenv_server.models import GhostexecAction, GhostexecObservation
import uvicorn

# One real Ghostexec observation (after a do_nothing step on phase2_core), replayed on every step:
# the cost of carrying Ghostexec's payload over the same transport, without simulating anything.
_real = GhostexecEnvironment()
_real.reset(task_id="phase2_core", seed=0)
RESET_OBS = _real.observation
STEP_OBS = _real.step(GhostexecAction.model_validate({"action_type": "do_nothing"}))

class ReplayEnv(Environment):
    SUPPORTS_CONCURRENT_SESSIONS = True
    STEPS_INLINE = True  # answered like Ghostexec's steps (openenv_server/ws_endpoint.py)
    def __init__(self):
        super().__init__()
        self._state = State(episode_id="replay", step_count=0)
    def reset(self, seed=None, episode_id=None, **kw):
        return RESET_OBS
    def step(self, action, timeout_s=None, **kw):
        return STEP_OBS
    async def reset_async(self, seed=None, episode_id=None, **kw):
        return RESET_OBS
    async def step_async(self, action, timeout_s=None, **kw):
        return STEP_OBS
    @property
    def state(self):
        return self._state

ENV, ACTION, OBSERVATION = ReplayEnv, GhostexecAction, GhostexecObservation
"""

# Both trivial servers are served exactly as `ghostexec serve` serves Ghostexec (uvicorn config,
# the /ws endpoint, payload middleware, GC tuning); only their environment differs.
TRIVIAL_SERVE = """
from openenv_server.ws_endpoint import install_ws_endpoint
settings = Settings.from_env(host="127.0.0.1", port=int(sys.argv[1]), max_sessions=int(sys.argv[2]), log_level="warning")
app = create_app(ENV, ACTION, OBSERVATION, max_concurrent_envs=settings.max_sessions)
install_ws_endpoint(app)
app.add_middleware(PayloadLimitMiddleware, max_body_bytes=settings.max_body_bytes)
tune_runtime()
uvicorn.Server(uvicorn_config(app, settings)).run()
"""

SERVERS = {"floor": FLOOR_SERVER + TRIVIAL_SERVE, "payload": PAYLOAD_SERVER + TRIVIAL_SERVE, "ghostexec": GHOSTEXEC_SERVER}

TARGETS = {
    "ghostexec": {
        "reset": {"type": "reset", "data": {"task_id": "phase2_core", "seed": 0}},
        "step": {"type": "step", "data": {"action_type": "do_nothing"}},
    },
    "floor": {
        "reset": {"type": "reset", "data": {}},
        "step": {"type": "step", "data": {"message": "hello"}},
    },
}
TARGETS["payload"] = TARGETS["ghostexec"]


def start_server(kind: str, max_sessions: int, spin_us: int | None = None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    code = SERVERS[kind]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if spin_us is not None:
        env["GHOSTEXEC_SPIN_US"] = str(spin_us)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), str(port), str(max_sessions)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", timeout_s=90, proc=proc)
    except RuntimeError as exc:
        raise RuntimeError(f"{kind} server did not start: {exc}") from None
    return proc, port


def _reset_message(kind: str, seed: int) -> str:
    """The reset for one episode. Each Ghostexec session and episode gets its own seed, so 64
    sessions are 64 different worlds (not one world in lockstep sharing every cached line)."""
    message = TARGETS[kind]["reset"]
    if "seed" in message["data"]:
        message = {**message, "data": {**message["data"], "seed": seed}}
    return json.dumps(message)


async def _session(
    url: str, kind: str, *, steps: int | None, until: float | None, latencies: list[float] | None, seed: int = 0, stride: int = 1
) -> int:
    """One client: reset, then step until `steps` or `until`; an episode that ends is followed by
    a reset with the next seed of this session (seed, seed + stride, ...)."""
    from websockets.asyncio.client import connect

    step = json.dumps(TARGETS[kind]["step"])
    done_steps = 0
    async with connect(url, max_size=None) as ws:
        await ws.send(_reset_message(kind, seed))
        await ws.recv()
        clock = time.perf_counter
        while True:
            if steps is not None and done_steps >= steps:
                break
            if until is not None and clock() >= until:
                break
            t0 = clock()
            await ws.send(step)
            reply = json.loads(await ws.recv())
            if latencies is not None:
                latencies.append(clock() - t0)
            if reply.get("type") != "observation":
                raise RuntimeError(f"unexpected reply: {str(reply)[:300]}")
            done_steps += 1
            if reply["data"].get("done"):
                seed += stride
                await ws.send(_reset_message(kind, seed))
                await ws.recv()
    return done_steps


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def sequential(urls: dict[str, str], steps: int, rounds: int = 12) -> dict[str, dict[str, float]]:
    """Alternate blocks of steps between the servers, so background load hits all alike. The order
    rotates every round, so each server follows each other one equally often: a block that comes
    right after Ghostexec's measured 10-15% slower than the same server later in the round."""
    lat: dict[str, list[float]] = {kind: [] for kind in urls}
    for kind, url in urls.items():  # warm-up
        await _session(url, kind, steps=max(50, steps // 10), until=None, latencies=None)
    rounds = max(1, min(rounds, steps))
    kinds = list(urls)
    for r in range(rounds):
        block = steps // rounds + (r < steps % rounds)  # blocks add up to exactly `steps`
        for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
            await _session(urls[kind], kind, steps=block, until=None, latencies=lat[kind])
    return {
        kind: {
            "median_ms": statistics.median(v) * 1e3,
            "p90_ms": _pct(v, 0.90) * 1e3,
            "p99_ms": _pct(v, 0.99) * 1e3,
            "steps": len(v),
        }
        for kind, v in lat.items()
    }


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds a process has used so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


async def concurrent(url: str, kind: str, sessions: int, seconds: float, server_pid: int | None = None) -> dict[str, float]:
    """Aggregate steps/s with `sessions` clients for `seconds`, plus the CPU time the server process
    and this client process spent per step (what bounds throughput when client and server share
    the host's cores: the server is one Python process, so it can use at most one core)."""
    lat: list[float] = []
    server_cpu0 = process_cpu_s(server_pid) if server_pid else None
    client_cpu0 = time.process_time()
    start = time.perf_counter()
    until = start + seconds
    counts = await asyncio.gather(
        *(_session(url, kind, steps=None, until=until, latencies=lat, seed=i, stride=sessions) for i in range(sessions))
    )
    elapsed = time.perf_counter() - start
    total = sum(counts)
    server_cpu1 = process_cpu_s(server_pid) if server_pid else None
    cpu = {"client_cpu_us_per_step": (time.process_time() - client_cpu0) / max(total, 1) * 1e6}
    if server_cpu0 is not None and server_cpu1 is not None:
        cpu["server_cpu_us_per_step"] = (server_cpu1 - server_cpu0) / max(total, 1) * 1e6
        cpu["server_cores_busy"] = (server_cpu1 - server_cpu0) / elapsed
    return cpu | {
        "sessions": sessions,
        "steps_per_s": total / elapsed,
        "p50_ms": statistics.median(lat) * 1e3 if lat else float("nan"),
        "p99_ms": _pct(lat, 0.99) * 1e3 if lat else float("nan"),
        "steps": total,
    }


def run(args: argparse.Namespace) -> dict:
    spin_us = Settings.from_env(spin_us=args.spin_us).spin_us  # what every server's event loop uses
    results: dict = {
        "host": {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine()},
        "params": {"steps": args.steps, "seconds": args.seconds, "sessions": args.sessions, "spin_us": spin_us},
    }
    max_sessions = max(max(args.sessions), 1)
    procs = {}
    try:
        urls = {}
        for kind in ("floor", "payload", "ghostexec"):  # all up at once; each measurement alternates between them
            procs[kind], port = start_server(kind, max_sessions, args.spin_us)
            urls[kind] = f"ws://127.0.0.1:{port}/ws"
        seq = asyncio.run(sequential(urls, args.steps))
        for kind in urls:
            results[kind] = {"sequential": seq[kind], "concurrent": []}
        for n in args.sessions:
            for kind, url in urls.items():
                results[kind]["concurrent"].append(asyncio.run(concurrent(url, kind, n, args.seconds, procs[kind].pid)))
    finally:
        for proc in procs.values():
            stop_process(proc)
    return results


def report(results: dict) -> str:
    f, g = results["floor"], results["ghostexec"]
    p = results.get("payload")
    rows = [("floor (echo env)", f)] + ([("payload (no simulation)", p)] if p else []) + [("ghostexec", g)]
    ratio = g["sequential"]["median_ms"] / f["sequential"]["median_ms"]
    lines = [
        f"WS step bench — {results['host']['cpus']} CPUs, Python {results['host']['python']}; client and server on this host",
        "",
        f"event loop: polls up to {results['params']['spin_us']} µs before sleeping while a client replies fast "
        "(0: off; openenv_server/eventloop.py; a loop whose app steps on worker threads never polls)",
        "",
        "sequential (1 session)      median     p90      p99   steps",
    ]
    for name, r in rows:
        s = r["sequential"]
        lines.append(f"  {name:24} {s['median_ms']:6.3f}ms {s['p90_ms']:6.3f}ms {s['p99_ms']:6.3f}ms  {s['steps']}")
    lines.append(f"  ghostexec / floor median: {ratio:.2f}x  (target <= 1.3x)")
    if p:
        pr = p["sequential"]["median_ms"] / f["sequential"]["median_ms"]
        lines.append(f"  payload / floor median:   {pr:.2f}x  (Ghostexec's real observation carried, nothing simulated)")
    lines += [
        "",
        "concurrent                 sessions   steps/s    p50      p99    server CPU/step (cores busy)  client CPU/step",
    ]
    for name, r in rows:
        for c in r["concurrent"]:
            server = (
                f"{c['server_cpu_us_per_step']:8.0f} µs ({c['server_cores_busy']:.2f})"
                if "server_cpu_us_per_step" in c
                else "       n/a       "
            )
            lines.append(
                f"  {name:24} {c['sessions']:6d} {c['steps_per_s']:9.0f} {c['p50_ms']:7.2f}ms {c['p99_ms']:7.2f}ms"
                f"   {server}          {c['client_cpu_us_per_step']:6.0f} µs"
            )
    at64 = [c for c in g["concurrent"] if c["sessions"] == 64]
    if at64:
        lines.append(f"  ghostexec at 64 sessions: {at64[0]['steps_per_s']:.0f} steps/s  (target >= 5000 on 2 cores)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="timed sequential steps (default 2000)")
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each concurrent run (default 4)")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 64], help="concurrency levels (default 1 8 64)")
    parser.add_argument(
        "--spin-us", type=int, help="every server's GHOSTEXEC_SPIN_US (default: the servers' own default; 0 turns polling off)"
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    results = run(args)
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
