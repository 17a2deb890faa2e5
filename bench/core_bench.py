"""In-process step and reset latency per scenario (median, p90), with references from the same run.

    python3 dev.py run python bench/core_bench.py [--episodes 30]

Targets (issue #2): step median ≤ 100 µs and reset ≤ 0.5 ms on phase2_core-sized worlds.
References measured in this run, on this machine:
- `deepcopy`: copy.deepcopy of the live world's entities, what the older public implementation
  did on every step (it took ~2.2 ms per step overall);
- `null`: a Simulation.step on a finished episode (argument parsing + the refusal path), the floor
  of calling into the core at all.
Only the `sim.step(...)` / `sim.reset(...)` calls are timed; choosing actions is not. By default
the garbage collector is paused while timing (the convention of Python's timeit); `--gc` keeps it
running, which adds the occasional collection pause to the numbers.
"""

from __future__ import annotations

import argparse
import copy
import gc
import random
import statistics
import time

from ghostexec import Simulation, available_tasks
from ghostexec.policies import greedy_state


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def mixed_action(sim: Simulation, rng: random.Random) -> dict:
    """Half strong moves, a quarter waits, a quarter random (often invalid) targets."""
    r = rng.random()
    if r < 0.5:
        return greedy_state(sim, rng)
    if r < 0.75:
        return {"action_type": "do_nothing"}
    w = sim.world
    kind = rng.choice(["archive", "complete", "message", "reschedule"])
    if kind == "archive":
        return {"action_type": "archive_email", "email_id": rng.choice([*w.emails, "e999"])}
    if kind == "complete":
        return {"action_type": "complete_task", "task_id": rng.choice([*w.tasks, "t999"])}
    if kind == "message":
        return {"action_type": "send_message", "contact_id": rng.choice(list(w.contacts)), "body": "Quick update on today."}
    return {"action_type": "reschedule_meeting", "meeting_id": rng.choice(list(w.meetings)), "new_start": "2026-13-40T99:00"}


def bench_task(task: str, episodes: int, keep_gc: bool = False) -> dict[str, float]:
    sim = Simulation()
    rng = random.Random(0)
    steps: list[float] = []
    resets: list[float] = []
    if not keep_gc:
        gc.disable()
    try:
        for ep in range(episodes):
            t0 = time.perf_counter()
            sim.reset(task_id=task, seed=ep)
            resets.append(time.perf_counter() - t0)
            while not sim.done:
                action = mixed_action(sim, rng)
                t0 = time.perf_counter()
                sim.step(action)
                steps.append(time.perf_counter() - t0)
        w = sim.world
        entities = (list(w.emails.values()), list(w.meetings.values()), list(w.contacts.values()), list(w.tasks.values()))
        deep = []
        for _ in range(200):
            t0 = time.perf_counter()
            copy.deepcopy(entities)
            deep.append(time.perf_counter() - t0)
        null = []
        for _ in range(2000):
            t0 = time.perf_counter()
            sim.step({"action_type": "do_nothing"})
            null.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return {
        "step_med": statistics.median(steps) * 1e6,
        "step_p90": pct(steps, 0.9) * 1e6,
        "reset_med": statistics.median(resets) * 1e6,
        "reset_p90": pct(resets, 0.9) * 1e6,
        "deepcopy_med": statistics.median(deep) * 1e6,
        "null_med": statistics.median(null) * 1e6,
        "steps": len(steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=30)
    parser.add_argument("--gc", action="store_true", help="keep the garbage collector running while timing")
    args = parser.parse_args()
    print(f"garbage collector {'running' if args.gc else 'paused'} while timing; {args.episodes} episodes per task")
    print(
        f"{'task':20} {'steps':>6} {'step med':>9} {'p90':>8} {'reset med':>10} {'p90':>8} {'deepcopy':>9} {'step/deepcopy':>13} {'null':>6}"
    )
    for task in available_tasks():
        r = bench_task(task, args.episodes, keep_gc=args.gc)
        print(
            f"{task:20} {r['steps']:6d} {r['step_med']:7.1f}µs {r['step_p90']:6.1f}µs {r['reset_med']:8.1f}µs {r['reset_p90']:6.1f}µs "
            f"{r['deepcopy_med']:7.1f}µs {r['step_med'] / r['deepcopy_med']:12.2f}x {r['null_med']:4.1f}µs"
        )
    print("targets: step median ≤ 100 µs, reset ≤ 500 µs (phase2_core-sized worlds)")


if __name__ == "__main__":
    main()
