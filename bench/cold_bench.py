#!/usr/bin/env python3
"""The step's cost when the CPU caches are cold, as they are inside the server: warm vs cold, with
the same run's echo environment as the reference.

Why this exists: in a tight loop a Ghostexec step (`do_nothing` on phase2_core, the ws_bench
workload) costs ~75-90 µs, but inside the WebSocket server the same step costs about twice that
(its share of server CPU per step in bench/ws_bench.py, minus the payload server's). Between two
steps of one session the server runs the transport, other sessions and system calls, or sits
idle (on this VM an idle vCPU halts: cpuidle haltpoll with polling off), so each step starts
with the processor's caches and predictors holding something else. This bench disturbs a loop
in two ways and times the step that follows, against the echo environment disturbed the same way:
- `--evict-mb`: read that many MB first (data caches only);
- `--gap-us`: sleep that long first (whatever an idle period costs on this host).
If a change makes Ghostexec's disturbed step cheaper, the server gains; if only the warm step
gets cheaper, it may not.

Each step is what the server does for one WS step message after JSON parsing: the wire action is
validated, `step` runs, the observation is serialised to the JSON the client receives.

    python3 dev.py run python bench/cold_bench.py                  # warm, 4 MB, 200 µs and 2 ms gaps
    python3 dev.py run python bench/cold_bench.py --evict-mb 1 4 8 --gap-us 0 --sessions 64
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from openenv.core.env_server.serialization import deserialize_action, serialize_observation
from openenv.core.env_server.types import WSObservationResponse

from bench.ws_ceiling import KINDS, reset_args  # the same environments, actions and seeding


def run(kind: str, sessions: int, evict_mb: float, gap_us: float, seconds: float) -> list[float]:
    """Per-step times (µs) for `sessions` environments taking turns, with `evict_mb` MB read and
    `gap_us` µs slept before each step."""
    env_cls, action_cls, data, _ = KINDS[kind]
    envs = [env_cls() for _ in range(sessions)]
    for seed, env in enumerate(envs):
        env.reset(**reset_args(kind, seed))
    seed = sessions
    done = [False] * sessions
    sweep = bytearray(int(evict_mb * 1_000_000))
    times: list[float] = []
    clock = time.perf_counter_ns
    until = time.perf_counter() + seconds
    gc.disable()
    try:
        while time.perf_counter() < until:
            for i, env in enumerate(envs):
                if done[i]:
                    env.reset(**reset_args(kind, seed))
                    seed += 1
                if sweep:
                    sweep.find(b"\x01")  # reads every byte: pushes the step's lines out of L1/L2
                if gap_us:
                    time.sleep(gap_us / 1e6)
                t0 = clock()
                obs = env.step(deserialize_action(data, action_cls))
                WSObservationResponse(data=serialize_observation(obs)).model_dump_json().encode("utf-8")
                times.append((clock() - t0) / 1000)
                done[i] = obs.done
    finally:
        gc.enable()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evict-mb", type=float, nargs="+", default=[4], help="MB read before each step")
    parser.add_argument("--gap-us", type=float, nargs="+", default=[200, 2000], help="µs slept before each step")
    parser.add_argument("--sessions", type=int, default=1, help="environments taking turns")
    parser.add_argument("--seconds", type=float, default=4.0, help="per kind and eviction size")
    args = parser.parse_args()
    print(f"in process, {args.sessions} session(s); each step: validate action, step, serialise observation to JSON")
    print(f"{'before each step':18} {'echo mean':>10} {'ghostexec mean':>15} {'median':>8} {'p90':>8}   ghostexec / warm")
    cases = [("nothing (warm)", 0.0, 0.0)]
    cases += [(f"read {mb:g} MB", mb, 0.0) for mb in args.evict_mb if mb]
    cases += [(f"sleep {us:g} µs", 0.0, us) for us in args.gap_us if us]
    warm = None
    for label, mb, us in cases:
        echo = run("echo", args.sessions, mb, us, args.seconds / 4)
        ge = run("ghostexec", args.sessions, mb, us, args.seconds)
        mean = statistics.fmean(ge)
        warm = warm or mean
        q = statistics.quantiles(ge, n=10)
        print(
            f"{label:18} {statistics.fmean(echo):8.1f}µs {mean:13.1f}µs {statistics.median(ge):6.1f}µs {q[-1]:6.1f}µs   {mean / warm:.2f}x"
        )


if __name__ == "__main__":
    main()
