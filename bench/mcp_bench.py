"""tools/call latency of Ghostexec's MCP server vs a trivial one-tool MCPServer, in the same run.

    .venv/bin/python bench/mcp_bench.py            # or: python3 dev.py run python bench/mcp_bench.py
    .venv/bin/python bench/mcp_bench.py --calls 400 --json bench/results/mcp.json

Servers run as separate processes on free 127.0.0.1 ports, the client (the official SDK `Client`)
in this one, one call at a time:

- Streamable HTTP: Ghostexec as shipped (`ghostexec serve`: OpenEnv + MCP on one port, /mcp shared
  with OpenEnv through the dispatcher) vs `MCPServer.streamable_http_app()` with one tool under
  uvicorn. Both protocol eras: handshake (2025-11-25, a session; Ghostexec at /mcp) and 2026-07-28
  (stateless; Ghostexec at an episode URL, the trivial server at /mcp).
- stdio: `python -m mcp_server --task ... --seed ...` vs the trivial server over stdio, both eras.

Ghostexec's call is `do_nothing`: one real simulation step (the world advances, the briefing is
re-rendered and returned). When an episode ends, `start_episode` restarts it, untimed. Both servers
stay connected and calls alternate between them one by one, so load on a shared host hits both
alike; rounds cycle through the transports. Target: Ghostexec median <= 1.3x the trivial server's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

TASK = "phase2_core"


# --------------------------------------------------------------------------- the trivial server


def trivial_server() -> Any:
    from mcp.server import MCPServer
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    mcp = MCPServer("trivial", log_level="WARNING")

    @mcp.tool()
    def echo(text: str = "") -> str:
        """Return the text unchanged."""
        return text

    @mcp.custom_route("/health", methods=["GET"])
    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "healthy"})

    return mcp


def serve_trivial(transport: str, port: int) -> None:
    mcp = trivial_server()
    if transport == "stdio":
        mcp.run("stdio")
    else:
        import uvicorn

        app = mcp.streamable_http_app(streamable_http_path="/mcp")
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


# ------------------------------------------------------------------------------------ measuring


class Target:
    """One server + era: how to connect, what to call, how to keep the episode alive."""

    def __init__(self, name: str, connect: Any, mode: str, tool: str, args: dict[str, Any], ghostexec: bool):
        self.name, self.connect, self.mode, self.tool, self.args, self.ghostexec = name, connect, mode, tool, args, ghostexec
        self.samples: list[float] = []


async def run_pair(g: Target, t: Target, calls: int, warmup: int) -> None:
    """Both servers connected at once; calls alternate between them one by one (order flipped on
    every call), so load on a shared host hits both alike."""
    from mcp import Client

    async with Client(g.connect, mode=g.mode) as gc, Client(t.connect, mode=t.mode) as tc:
        await gc.call_tool("start_episode", {"task_id": TASK, "seed": 0})

        async def one(target: Target, client: Client, record: bool) -> None:
            t0 = time.perf_counter()
            res = await client.call_tool(target.tool, target.args)
            dt = time.perf_counter() - t0
            if res.is_error:
                raise RuntimeError(f"{target.name}: {res.content[0].text}")
            if record:
                target.samples.append(dt)
            if target.ghostexec and res.structured_content["done"]:
                await client.call_tool("start_episode", {"task_id": TASK, "seed": 0})

        for i in range(warmup + calls):
            order = ((g, gc), (t, tc)) if i % 2 else ((t, tc), (g, gc))
            for target, client in order:
                await one(target, client, i >= warmup)


def stats(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "n": len(s),
        "median_ms": statistics.median(s) * 1e3,
        "p90_ms": s[int(0.9 * (len(s) - 1))] * 1e3,
        "mean_ms": statistics.fmean(s) * 1e3,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=300, help="timed calls per configuration (split over rounds)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=10, help="untimed calls at the start of each round")
    p.add_argument("--json", default=None, help="also write the results to this file")
    p.add_argument("--only", choices=["http", "stdio"], default=None, help="measure one transport only")
    p.add_argument(
        "--no-briefing-in-result",
        action="store_true",
        help="stdio Ghostexec without the briefing attached to results (shows what the ~8 KB costs)",
    )
    p.add_argument("--serve-trivial", choices=["http", "stdio"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_trivial:
        serve_trivial(args.serve_trivial, args.port)
        return 0

    import anyio
    import httpx
    from mcp.client.stdio import StdioServerParameters

    from mcp_server.testing import free_port, serve_in_subprocess

    py = sys.executable
    env = {**os.environ, "PYTHONPATH": ROOT}
    gx_port, tr_port = free_port(), free_port()
    gx_cmd = [py, "-m", "ghostexec.cli", "serve", "--host", "127.0.0.1", "--port", str(gx_port), "--log-level", "warning"]
    tr_cmd = [py, os.path.abspath(__file__), "--serve-trivial", "http", "--port", str(tr_port)]
    with serve_in_subprocess(gx_cmd, gx_port) as gx, serve_in_subprocess(tr_cmd, tr_port) as tr:
        episode_url = httpx.post(gx + "/mcp-std/episodes", json={"task_id": TASK, "seed": 0}).json()["url"]
        gx_args = ["-m", "mcp_server", "--task", TASK, "--seed", "0"]
        gx_args += ["--no-briefing-in-result"] if args.no_briefing_in_result else []
        gx_stdio = StdioServerParameters(command=py, args=gx_args, cwd=ROOT, env=env)
        tr_stdio = StdioServerParameters(
            command=py, args=[os.path.abspath(__file__), "--serve-trivial", "stdio"], cwd=ROOT, env=env
        )
        pairs = [
            ("Streamable HTTP, 2025-11-25 (session)", Target("ghostexec", gx + "/mcp", "legacy", "do_nothing", {}, True),
             Target("trivial", tr + "/mcp", "legacy", "echo", {"text": "hi"}, False)),
            ("Streamable HTTP, 2026-07-28 (stateless)", Target("ghostexec", episode_url, "auto", "do_nothing", {}, True),
             Target("trivial", tr + "/mcp", "auto", "echo", {"text": "hi"}, False)),
            ("stdio, 2025-11-25", Target("ghostexec", gx_stdio, "legacy", "do_nothing", {}, True),
             Target("trivial", tr_stdio, "legacy", "echo", {"text": "hi"}, False)),
            ("stdio, 2026-07-28", Target("ghostexec", gx_stdio, "auto", "do_nothing", {}, True),
             Target("trivial", tr_stdio, "auto", "echo", {"text": "hi"}, False)),
        ]  # fmt: skip
        if args.only:
            pairs = [pair for pair in pairs if pair[0].lower().startswith(args.only if args.only == "stdio" else "streamable")]
        per_round = max(1, args.calls // args.rounds)
        for _ in range(args.rounds):
            for label, g, t in pairs:
                print(f"measuring {label} ...", file=sys.stderr)
                anyio.run(run_pair, g, t, per_round, args.warmup)

    results = []
    print(f"\ntools/call latency, {per_round * args.rounds} sequential calls per row (median / p90, ms)\n")
    print(f"{'transport':42} {'ghostexec':>17} {'trivial':>17} {'ratio (median)':>15}")
    for label, g, t in pairs:
        gs, ts = stats(g.samples), stats(t.samples)
        ratio = gs["median_ms"] / ts["median_ms"]
        print(
            f"{label:42} {gs['median_ms']:7.2f} / {gs['p90_ms']:6.2f} {ts['median_ms']:7.2f} / {ts['p90_ms']:6.2f} "
            f"{ratio:14.2f}x{'' if ratio <= 1.3 else '  (above 1.3x target)'}"
        )
        results.append({"transport": label, "ghostexec": gs, "trivial": ts, "ratio_median": ratio})
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"task": TASK, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
