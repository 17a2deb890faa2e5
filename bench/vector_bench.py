"""Rollout throughput of `ghostexec.vector.VectorSimulation` for N = 1, 64, 1024 parallel episodes,
against a reference measured in the same run: a plain loop of single `Simulation`s playing the same
episodes one after another with the same actions.

    python3 dev.py run python bench/vector_bench.py [--task phase2_core] [--sizes 1,64,1024]

Actions come from a fixed script per slot (greedy_state's moves on seed 0, replayed on every seed,
so some turn invalid on other seeds, like a real policy's would): only the environment is timed,
never the choice of actions. Each row plays every slot's episode to the end, resets included.
Rows:
- `loop`: N single Simulations, one episode after another (the reference, 1.00x);
- `vector`: VectorSimulation(task, N) stepped as a batch, full observations;
- `vector lazy`: the same with lazy_briefing=True (the briefing text rendered only on request).
The garbage collector is paused while timing, as in core_bench. On a shared machine the numbers
move a lot between runs; the ratios within one size are the thing to read.
"""

from __future__ import annotations

import argparse
import gc
import time

from ghostexec import Simulation
from ghostexec.policies import greedy_state, run_episode
from ghostexec.vector import VectorSimulation


def script_for(task: str) -> list[dict]:
    _, results = run_episode(task, 0, greedy_state)
    return [dict(r.info["action"]) for r in results]


def loop(task: str, n: int, script: list[dict]) -> int:
    steps = 0
    for seed in range(n):
        sim = Simulation()
        sim.reset(task_id=task, seed=seed)
        t = 0
        while not sim.done:
            sim.step(script[t % len(script)])
            t += 1
        steps += t
    return steps


def vector(task: str, n: int, script: list[dict], lazy: bool) -> int:
    vec = VectorSimulation(task, n, seeds=range(n), lazy_briefing=lazy)
    vec.reset()
    steps = t = 0
    while not all(vec.dones):
        action = script[t % len(script)]
        vec.step([action] * n)
        steps += n
        t += 1
    return steps


def timed(fn, *args) -> tuple[int, float]:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        steps = fn(*args)
        return steps, time.perf_counter() - t0
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="phase2_core")
    parser.add_argument("--sizes", default="1,64,1024")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size (best kept; 2 at most for N >= 1024)")
    args = parser.parse_args()
    script = script_for(args.task)
    print(f"task {args.task}: {len(script)} steps per episode; steps/s, best of the rounds (variants interleaved), vs `loop`")
    print(f"{'N':>6} {'variant':<12} {'steps':>8} {'seconds':>8} {'steps/s':>9} {'vs loop':>8}")
    variants = {
        "loop": lambda n: loop(args.task, n, script),
        "vector": lambda n: vector(args.task, n, script, False),
        "vector lazy": lambda n: vector(args.task, n, script, True),
    }
    for n in (int(x) for x in args.sizes.split(",")):
        rounds = max(1, min(args.repeat, 2 if n >= 1024 else args.repeat))
        best: dict[str, tuple[int, float]] = {}
        for _ in range(rounds):
            for name, fn in variants.items():
                steps, secs = timed(fn, n)
                if name not in best or secs < best[name][1]:
                    best[name] = (steps, secs)
        ref_steps, ref_s = best["loop"]
        for name, (steps, secs) in best.items():
            assert steps == ref_steps, (name, steps, ref_steps)  # every slot ran exactly its episode
            print(f"{n:>6} {name:<12} {steps:>8} {secs:>8.3f} {steps / secs:>9.0f} {ref_s / secs:>7.2f}x")


if __name__ == "__main__":
    main()
