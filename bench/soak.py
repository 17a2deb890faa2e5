"""Soak: many concurrent sessions, OpenEnv WebSocket and MCP Streamable HTTP mixed, against one
`ghostexec serve` process; then check that nothing leaked.

    python bench/soak.py                      # 200 sessions x 200 steps (half WS, half MCP)
    python bench/soak.py --sessions 20 --steps 20 --url http://127.0.0.1:8000   # against a running server

Without --url it starts `ghostexec serve` on a free loopback port (limits raised to fit the run) and
measures that process's RSS. Each WS session is a `GhostexecEnv` (OpenEnv's client); each MCP session
is a handshake-era Streamable HTTP session spoken as raw JSON-RPC over httpx (initialize, then
`tools/call`, DELETE at the end: the SDK's default 2026-07-28 client would need named episode URLs,
which by design outlive the client until their idle TTL, so they would read as leaks). An episode
that ends is restarted (WS `reset`, MCP `start_episode`) so each session takes exactly --steps steps.

Prints throughput, p50/p99 step latency (overall and per transport), server RSS before/after, leaked
sessions/episodes (from GET /capacity, after the clients are gone) and errors. Exit status 1 if
anything leaked or any error happened.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcp_server.testing import sse_json  # noqa: E402
from openenv_server.client import GhostexecEnv  # noqa: E402
from openenv_server.testing import free_port, stop_process, wait_for_http  # noqa: E402

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
PROTOCOL = "2025-11-25"


def rss_mb(pid: int | None) -> float | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


async def ws_session(url: str, steps: int, task: str, token: str | None, lat: list[float], errors: list[str]) -> None:
    try:
        async with GhostexecEnv(base_url=url, token=token) as env:
            result = await env.reset(task_id=task)
            for _ in range(steps):
                if result.done:
                    result = await env.reset(task_id=task)
                t0 = time.perf_counter()
                result = await env.step({"action_type": "do_nothing"})
                lat.append(time.perf_counter() - t0)
                if not result.observation.step_ok:
                    errors.append(f"ws step refused: {result.observation.error}")
    except Exception as exc:  # counted, not raised: the soak reports every failure
        errors.append(f"ws: {type(exc).__name__}: {exc}")


async def mcp_session(http: httpx.AsyncClient, url: str, steps: int, task: str, lat: list[float], errors: list[str]) -> None:
    endpoint = url + "/mcp"
    sid = None
    try:
        init = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "soak", "version": "0"}},
        }
        r = await http.post(endpoint, json=init, headers=MCP_HEADERS)
        r.raise_for_status()
        sid = r.headers["mcp-session-id"]
        headers = {**MCP_HEADERS, "mcp-session-id": sid, "mcp-protocol-version": PROTOCOL}
        await http.post(endpoint, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)

        async def call(i: int, name: str, args: dict[str, Any]) -> dict[str, Any]:
            body = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": name, "arguments": args}}
            resp = await http.post(endpoint, json=body, headers=headers)
            resp.raise_for_status()
            return sse_json(resp.text)["result"]

        await call(1, "start_episode", {"task_id": task})
        done = False
        for i in range(steps):
            if done:
                await call(10_000 + i, "start_episode", {"task_id": task})
            t0 = time.perf_counter()
            result = await call(2 + i, "do_nothing", {})
            lat.append(time.perf_counter() - t0)
            if result.get("isError"):
                errors.append(f"mcp tool error: {result['content'][0]['text'][:200]}")
            done = bool((result.get("structuredContent") or {}).get("done"))
    except Exception as exc:
        errors.append(f"mcp: {type(exc).__name__}: {exc}")
    finally:
        if sid is not None:
            try:
                await http.delete(endpoint, headers={**MCP_HEADERS, "mcp-session-id": sid})
            except Exception as exc:
                errors.append(f"mcp delete: {type(exc).__name__}: {exc}")


def leaked(url: str, headers: dict[str, str], wait_s: float = 10.0) -> dict[str, int]:
    """Live sessions/episodes per kind, waiting up to `wait_s` for closes in flight to land."""
    deadline = time.monotonic() + wait_s
    while True:
        cap = httpx.get(url + "/capacity", headers=headers, timeout=10).json()
        counts = {"ws_sessions": cap["sessions"]["active"], "http_episodes": cap["episodes"]["live"]}
        if "mcp" in cap:
            counts["mcp_sessions"] = cap["mcp"]["sessions"]["active"]
            counts["mcp_episodes"] = cap["mcp"]["episodes"]["live"]
        if not any(counts.values()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(url: str, sessions: int, steps: int, mcp_share: float, task: str, token: str | None) -> dict[str, Any]:
    n_mcp = round(sessions * mcp_share)
    ws_lat: list[float] = []
    mcp_lat: list[float] = []
    errors: list[str] = []
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=n_mcp + 8, max_keepalive_connections=n_mcp + 8)
    async with httpx.AsyncClient(timeout=120, limits=limits, headers=auth) as http:
        jobs = []
        for i in range(sessions):  # interleaved, e.g. WS, MCP, WS, MCP ... at a share of 0.5
            if int((i + 1) * mcp_share) > int(i * mcp_share):
                jobs.append(("mcp", mcp_session(http, url, steps, task, mcp_lat, errors)))
            else:
                jobs.append(("ws", ws_session(url, steps, task, token, ws_lat, errors)))
        t0 = time.perf_counter()
        await asyncio.gather(*(job for _, job in jobs))
        wall = time.perf_counter() - t0
    return {
        "wall": wall,
        "ws_sessions": sum(k == "ws" for k, _ in jobs),
        "mcp_sessions": sum(k == "mcp" for k, _ in jobs),
        "ws_lat": ws_lat,
        "mcp_lat": mcp_lat,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200, help="steps per session")
    parser.add_argument("--mcp-share", type=float, default=0.5, help="fraction of sessions that are MCP (default 0.5)")
    parser.add_argument("--task", default="phase2_core")
    parser.add_argument("--url", default=None, help="use a running server instead of starting one (RSS then not measured)")
    parser.add_argument("--token", default=os.environ.get("GHOSTEXEC_TOKEN"), help="bearer token, if the server needs one")
    args = parser.parse_args(argv)

    proc = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        cap = str(max(64, args.sessions + 8))
        cmd = [sys.executable, "-m", "ghostexec.cli", "serve", "--port", str(port), "--log-level", "warning"]
        cmd += ["--max-sessions", cap, "--max-mcp-sessions", cap, "--max-episodes", str(2 * int(cap))]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if args.token:
            env["GHOSTEXEC_TOKEN"] = args.token
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    auth = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    try:
        wait_for_http(url + "/health", timeout_s=120, proc=proc)
        # warm up (imports, caches) so "before" is the steady baseline, not a cold process
        asyncio.run(run(url, 2, 5, 0.5, args.task, args.token))
        pid = proc.pid if proc else None
        rss_before = rss_mb(pid)
        res = asyncio.run(run(url, args.sessions, args.steps, args.mcp_share, args.task, args.token))
        leaks = leaked(url, auth)
        rss_after = rss_mb(pid)
    finally:
        if proc is not None:
            stop_process(proc, timeout_s=30)

    all_lat = res["ws_lat"] + res["mcp_lat"]
    total = len(all_lat)
    n_leaked = sum(leaks.values())
    n_err = len(res["errors"])
    print(f"soak: {res['ws_sessions']} WS + {res['mcp_sessions']} MCP sessions x {args.steps} steps, task {args.task}, {url}")
    print(f"  steps completed     {total} of {args.sessions * args.steps}")
    print(f"  wall time           {res['wall']:.1f} s")
    print(f"  throughput          {total / res['wall']:.0f} steps/s")
    print(f"  step latency        p50 {pct(all_lat, 0.5):.1f} ms   p99 {pct(all_lat, 0.99):.1f} ms")
    for name, lat in (("WS", res["ws_lat"]), ("MCP", res["mcp_lat"])):
        if lat:
            print(
                f"    {name:3}               p50 {pct(lat, 0.5):.1f} ms   p99 {pct(lat, 0.99):.1f} ms   mean {statistics.fmean(lat) * 1000:.1f} ms"
            )
    if rss_before is not None:
        print(f"  server RSS          before {rss_before:.0f} MB   after {rss_after:.0f} MB   ({rss_after - rss_before:+.0f} MB)")
    else:
        print("  server RSS          not measured (--url)")
    print(f"  leaked              {n_leaked}  {leaks}")
    print(f"  errors              {n_err}")
    for e in res["errors"][:10]:
        print(f"    {e}")
    ok = n_leaked == 0 and n_err == 0 and total == args.sessions * args.steps
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
