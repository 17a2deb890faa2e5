#!/usr/bin/env python3
"""The WS server's work per step without the sockets: how many steps/s one process could serve if
the network cost nothing.

N sessions run interleaved on one asyncio loop, each doing exactly what OpenEnv's /ws handler does
for a step message (json.loads, WSStepMessage, deserialize_action, `step_async`,
serialize_observation, WSObservationResponse.model_dump_json, UTF-8 encode) with the GC tuned as
`ghostexec serve` tunes it, and resetting when an episode ends, as bench/ws_bench.py's clients do.
The same loop over a trivial echo environment is the reference. If Ghostexec's ceiling here is
near or below a throughput target, no transport work can reach that target: the step must get
cheaper.

    .venv/bin/python bench/ws_ceiling.py                     # 1, 8 and 64 sessions, 3 s each
    .venv/bin/python bench/ws_ceiling.py --sessions 64 --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.serialization import deserialize_action, serialize_observation
from openenv.core.env_server.types import WSObservationResponse, WSStepMessage

from bench.echo_env import EchoAction, InlineEchoEnv
from openenv_server.app import tune_runtime
from openenv_server.environment import GhostexecEnvironment
from openenv_server.models import GhostexecAction

KINDS = {
    "ghostexec": (GhostexecEnvironment, GhostexecAction, {"action_type": "do_nothing"}, {"task_id": "phase2_core", "seed": 0}),
    "echo": (InlineEchoEnv, EchoAction, {"message": "hello"}, {}),
}


def reset_args(kind: str, seed: int) -> dict:
    """Each Ghostexec session and episode gets its own seed (different worlds, as in ws_bench)."""
    reset = KINDS[kind][3]
    return {**reset, "seed": seed} if "seed" in reset else reset


async def _session(kind: str, env: Environment, until: float, timing: list[int], seed: int, stride: int) -> int:
    _, action_cls, data, _ = KINDS[kind]
    raw = json.dumps({"type": "step", "data": data})
    steps = 0
    clock = time.perf_counter
    while clock() < until:
        msg = WSStepMessage(**json.loads(raw))
        action = deserialize_action(msg.data, action_cls)
        t0 = time.perf_counter_ns()
        obs = await env.step_async(action)
        timing[0] += time.perf_counter_ns() - t0
        WSObservationResponse(data=serialize_observation(obs)).model_dump_json().encode("utf-8")
        steps += 1
        if obs.done:
            seed += stride
            await env.reset_async(**reset_args(kind, seed))
        await asyncio.sleep(0)  # let the other sessions in, as socket waits would
    return steps


async def _run(kind: str, sessions: int, seconds: float) -> dict[str, float]:
    env_cls = KINDS[kind][0]
    envs = [env_cls() for _ in range(sessions)]
    for i, env in enumerate(envs):
        await env.reset_async(**reset_args(kind, i))
    timing = [0]
    start = time.perf_counter()
    counts = await asyncio.gather(*(_session(kind, env, start + seconds, timing, i, sessions) for i, env in enumerate(envs)))
    elapsed = time.perf_counter() - start
    total = sum(counts)
    return {"sessions": sessions, "steps_per_s": total / elapsed, "step_us": timing[0] / total / 1e3}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    tune_runtime()
    print("in process, no sockets: OpenEnv's per-step handler work around each environment's step_async")
    print("sessions   echo steps/s   ghostexec steps/s   ratio   ghostexec step_async (mean)")
    for n in args.sessions:
        echo = asyncio.run(_run("echo", n, args.seconds))
        ghost = asyncio.run(_run("ghostexec", n, args.seconds))
        ratio = ghost["steps_per_s"] / echo["steps_per_s"]
        print(f"{n:8d} {echo['steps_per_s']:14.0f} {ghost['steps_per_s']:19.0f} {ratio:7.2f}   {ghost['step_us']:6.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
