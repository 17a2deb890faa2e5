"""The measured table of docs/evaluation.md: every policy on every task over seeds 0..n-1.

    python -m ghostexec.policies.report            # 5 seeds, markdown table on stdout
    python -m ghostexec.policies.report --seeds 10 --policies planner,heuristic_text

tests/test_signal_quality.py checks its thresholds on the same numbers (`measure`).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

from ..scenario import available_tasks
from . import POLICIES, run_episode


@dataclass(frozen=True)
class Episode:
    policy: str
    task_id: str
    seed: int
    ret: float
    grade: float
    invalid: int


def play(policy: str, task_id: str, seed: int) -> Episode:
    sim, results = run_episode(task_id, seed, POLICIES[policy])
    invalid = sum(1 for r in results if r.observation.error is not None)
    return Episode(policy, task_id, seed, sum(r.reward for r in results), sim.grade().score, invalid)


def measure(policies, tasks, seeds) -> dict[tuple[str, str], list[Episode]]:
    return {(p, t): [play(p, t, s) for s in seeds] for p in policies for t in tasks}


def _cell(eps: list[Episode]) -> str:
    rets = [e.ret for e in eps]
    sd = statistics.pstdev(rets) if len(rets) > 1 else 0.0
    return f"{statistics.mean(rets):+.2f} ± {sd:.2f} / {statistics.mean(e.grade for e in eps):.3f}"


def table(results: dict[tuple[str, str], list[Episode]], policies, tasks) -> str:
    short = [t.replace("_", " ") for t in tasks]
    lines = ["| policy | " + " | ".join(short) + " |", "|---|" + "---|" * len(tasks)]
    for p in policies:
        lines.append(f"| {p} | " + " | ".join(_cell(results[p, t]) for t in tasks) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--policies", default=",".join(POLICIES))
    ap.add_argument("--tasks", default=",".join(available_tasks()))
    args = ap.parse_args(argv)
    policies = [p for p in args.policies.split(",") if p]
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        ap.error(f"unknown policies {unknown}; known: {', '.join(POLICIES)}")
    t0 = time.process_time()
    results = measure(policies, tasks, range(args.seeds))
    print(f"Cells: mean ± std of the episode return / mean grade, seeds 0..{args.seeds - 1}.\n")
    print(table(results, policies, tasks))
    print(f"\n({time.process_time() - t0:.1f} s CPU)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
