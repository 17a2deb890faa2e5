"""Policies: callables `policy(sim, rng) -> action dict`, registered by name in `POLICIES`.

They exist to prove the reward and the graders measure what they claim (tests/test_signal_quality.py,
docs/evaluation.md) and to give evaluations fixed reference points. The action may be invalid (the
random and exploit policies produce invalid ones on purpose); it is always well-formed.

Families, one module each:
- baselines: `do_nothing` (the floor), `random_valid`, `random` (valid or not), `greedy_state`
  (scripted, reads the full state);
- exploits: `reply_spam`, `message_spam_vip`, `archive_all`, `cancel_all`, `task_churn` (reward
  hacks that must not pay);
- heuristic: `heuristic_text` (greedy, reads only `sim.observation`, what an external agent sees);
- planner: `planner` (full state plus look-ahead over forks of the simulation; an upper bound).

`POLICY_INFO[name]` says what each reads (`reads_state`: the full world, answer key included, vs
only the observation), its family, and whether it uses the `rng` argument (`stochastic`).
`run_episode(task_id, seed, policy)` plays one episode; the policy's rng is `random.Random(seed)`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..simulation import Simulation
from .baselines import compose_reply, do_nothing, greedy_state, random_any, random_valid
from .exploits import archive_all, cancel_all, message_spam_vip, reply_spam, task_churn
from .heuristic import heuristic_text
from .planner import planner


@dataclass(frozen=True)
class PolicyInfo:
    family: str  # baseline | exploit | heuristic | planner
    reads_state: bool  # True: reads the world (answer key included); False: only sim.observation
    stochastic: bool = False  # uses the rng argument


POLICIES = {
    "do_nothing": do_nothing,
    "random_valid": random_valid,
    "random": random_any,
    "reply_spam": reply_spam,
    "message_spam_vip": message_spam_vip,
    "archive_all": archive_all,
    "cancel_all": cancel_all,
    "task_churn": task_churn,
    "heuristic_text": heuristic_text,
    "greedy_state": greedy_state,
    "planner": planner,
}

POLICY_INFO = {
    "do_nothing": PolicyInfo("baseline", reads_state=False),
    "random_valid": PolicyInfo("baseline", reads_state=True, stochastic=True),
    "random": PolicyInfo("baseline", reads_state=True, stochastic=True),
    "reply_spam": PolicyInfo("exploit", reads_state=True),
    "message_spam_vip": PolicyInfo("exploit", reads_state=True),
    "archive_all": PolicyInfo("exploit", reads_state=True),
    "cancel_all": PolicyInfo("exploit", reads_state=True),
    "task_churn": PolicyInfo("exploit", reads_state=True),
    "heuristic_text": PolicyInfo("heuristic", reads_state=False),
    "greedy_state": PolicyInfo("baseline", reads_state=True),
    "planner": PolicyInfo("planner", reads_state=True),
}
EXPLOITS = tuple(name for name, info in POLICY_INFO.items() if info.family == "exploit")


def run_episode(task_id: str, seed: int, policy, max_steps: int | None = None) -> tuple[Simulation, list]:
    """Play one episode; returns the simulation (for grading/hashing) and the step results."""
    sim = Simulation()
    sim.reset(task_id=task_id, seed=seed)
    rng = random.Random(seed)
    results = []
    while not sim.done and (max_steps is None or len(results) < max_steps):
        results.append(sim.step(policy(sim, rng)))
    return sim, results


__all__ = ["EXPLOITS", "POLICIES", "POLICY_INFO", "PolicyInfo", "compose_reply", "do_nothing", "greedy_state", "run_episode"]
