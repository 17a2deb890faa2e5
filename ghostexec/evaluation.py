"""Evaluation: run policies over tasks and seeds, record trajectories, aggregate the numbers.

Every episode is played on a local *mirror* `Simulation`, which the policy reads (policies take
`(sim, rng)`). With a remote transport (OpenEnv WebSocket, MCP), each action is also sent to the
server and what the server answers is compared, field by field, with what the mirror produced for
the same action: the evaluation doubles as a live parity check, and a difference stops the
episode with a `ParityError` naming the step and the field. The transport adapters only fetch; the
comparison is here, once.

pass^k follows tau-bench: the probability that k i.i.d. trials of a task all pass, estimated per
task from n seeds with c passes as C(c, k) / C(n, k), and averaged over tasks. "Pass" is a grade at
or above a stated threshold.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from . import trajectory
from .progress import Progress
from .results import Observation, StepResult
from .scenario import load_task
from .simulation import Simulation

DEFAULT_THRESHOLD = 0.5
DEFAULT_K = 3
MAX_REFUSED_IN_A_ROW = 50  # a policy stuck sending malformed actions would otherwise never finish


class ParityError(RuntimeError):
    """A remote transport answered differently from the in-process mirror (a parity bug)."""

    def __init__(self, transport: str, task_id: str, seed: int, index: int | None, name: str, remote: Any, mirror: Any):
        where = "reset" if index is None else f"action index {index}"
        shown_r, shown_m = (str(v)[:80] for v in (remote, mirror))
        super().__init__(
            f"parity: {transport} {task_id} seed {seed}, {where}: {name} differs: remote {shown_r!r} != in-process {shown_m!r}"
        )
        self.index, self.name = index, name


class Remote(Protocol):
    """A transport the evaluation drives in lockstep with the mirror. Each call returns a *view*:
    a dict with any of the keys of `expected_view` that the transport can observe (at least
    `rejected`); the core compares those keys and ignores the rest."""

    name: str

    def reset(self, task_id: str, seed: int, episode_id: str) -> dict[str, Any]: ...

    def step(self, action: Any) -> dict[str, Any]: ...

    def close(self) -> None: ...


def expected_view(sim: Simulation, obs: Observation, result: StepResult | None) -> dict[str, Any]:
    """Everything a transport could report about the latest reset or step, from the mirror."""
    rejected = bool(result is not None and result.info.get("rejected"))
    view: dict[str, Any] = {"rejected": rejected}
    if rejected:
        return view
    view.update(
        observation_hash=trajectory.observation_hash(obs),
        state_hash=sim.state_hash(),
        briefing=obs.briefing,
        reward=obs.reward,
        breakdown=None if obs.breakdown is None else obs.breakdown.model_dump(mode="json"),
        step=obs.step,
        step_ok=obs.step_ok,
        error=obs.error,
        done=obs.done,
    )
    return view


def _compare(
    remote: dict[str, Any], mirror: dict[str, Any], *, transport: str, task_id: str, seed: int, index: int | None
) -> None:
    for name in ("rejected", *sorted(set(remote) - {"rejected"})):
        if name in mirror and remote.get(name) != mirror[name]:
            raise ParityError(transport, task_id, seed, index, name, remote.get(name), mirror[name])


@dataclass
class EpisodeResult:
    policy: str
    task_id: str
    seed: int
    steps: int
    total_return: float
    grade: float
    invalid: int  # steps taken whose action was invalid in meaning (cost a step)
    refused: int  # actions refused without a step (malformed shape)
    rewards: list[float]
    state_hash: str
    truncated: bool = False  # stopped early (policy kept sending refused actions)
    lines: list[dict[str, Any]] = field(default_factory=list)  # the trajectory, when recorded

    def passed(self, threshold: float) -> bool:
        return self.grade >= threshold

    def summary(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "task_id": self.task_id,
            "seed": self.seed,
            "steps": self.steps,
            "return": self.total_return,
            "grade": self.grade,
            "invalid": self.invalid,
            "refused": self.refused,
            "truncated": self.truncated,
            "state_hash": self.state_hash,
        }


Policy = Callable[[Simulation, random.Random], Any]


def play_episode(
    policy_name: str,
    policy: Policy,
    task_id: str,
    seed: int,
    *,
    remote: Remote | None = None,
    record: bool = True,
) -> EpisodeResult:
    """One episode of `policy` on `task_id` with `seed`; with `remote`, sent to it in lockstep and
    checked at every step. The policy's RNG is `random.Random(seed)`, as in `policies.run_episode`."""
    transport = remote.name if remote is not None else "inproc"
    episode_id = f"{task_id}:{seed}"
    mirror = Simulation()
    obs = mirror.reset(task_id=task_id, seed=seed, episode_id=episode_id)
    check = dict(transport=transport, task_id=task_id, seed=seed)
    if remote is not None:
        _compare(remote.reset(task_id, seed, episode_id), expected_view(mirror, obs, None), index=None, **check)
    lines: list[dict[str, Any]] = []
    if record:
        lines.append(
            trajectory.header(
                task_id=task_id,
                seed=seed,
                episode_id=episode_id,
                policy=policy_name,
                transport=transport,
                scenario=load_task(task_id),
                observation=obs,
                state_hash=mirror.state_hash(),
            )
        )
    rng = random.Random(seed)
    rewards: list[float] = []
    invalid = refused = in_a_row = index = 0
    truncated = False
    while not mirror.done:
        action = policy(mirror, rng)
        res = mirror.step(action)
        if remote is not None:
            _compare(remote.step(action), expected_view(mirror, res.observation, res), index=index, **check)
        if record:
            lines.append(trajectory.step_line(index, action, res, mirror.state_hash()))
        index += 1
        if res.info.get("rejected"):
            refused += 1
            in_a_row += 1
            if in_a_row >= MAX_REFUSED_IN_A_ROW:
                truncated = True
                break
            continue
        in_a_row = 0
        rewards.append(res.reward)
        if not res.observation.step_ok:
            invalid += 1
    grade = mirror.grade()
    final_hash = mirror.state_hash()
    total = math.fsum(rewards)
    if record:
        lines.append(trajectory.final_line(len(rewards), total, grade, final_hash))
    return EpisodeResult(
        policy=policy_name,
        task_id=task_id,
        seed=seed,
        steps=len(rewards),
        total_return=total,
        grade=grade.score,
        invalid=invalid,
        refused=refused,
        rewards=rewards,
        state_hash=final_hash,
        truncated=truncated,
        lines=lines,
    )


def trajectory_path(out: Path, r: EpisodeResult) -> Path:
    return out / "trajectories" / r.policy / r.task_id / f"seed-{r.seed}.jsonl"


def run_eval(
    policies: dict[str, Policy],
    tasks: Sequence[str],
    seeds: Sequence[int],
    *,
    remote: Remote | None = None,
    out: Path | None = None,
    progress: Progress | None = None,
) -> list[EpisodeResult]:
    """Every policy × task × seed, in that order. With `out`, each episode's trajectory is written
    to out/trajectories/POLICY/TASK/seed-N.jsonl (without it, no hashes are computed per step)."""
    results = []
    for name, policy in policies.items():
        for task in tasks:
            for seed in seeds:
                r = play_episode(name, policy, task, seed, remote=remote, record=out is not None)
                if out is not None:
                    trajectory.write(trajectory_path(out, r), r.lines)
                    r.lines = []  # written; do not keep every step of every episode in memory
                results.append(r)
                if progress is not None:
                    progress.advance(f"{name} {task} seed {seed}: grade {r.grade:.2f}")
    return results


# --- aggregation -------------------------------------------------------------------------------
def pass_hat_k(n: int, c: int, k: int) -> float | None:
    """tau-bench's unbiased estimate of P(k i.i.d. trials all pass) from n trials with c passes;
    None when k > n (not estimable)."""
    if k < 1 or k > n:
        return None
    return math.comb(c, k) / math.comb(n, k)


def _std(xs: Sequence[float]) -> float:
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


@dataclass
class Row:
    """One line of the results table: a policy on a task over its seeds (task 'ALL' = mean over tasks)."""

    policy: str
    task_id: str
    n: int
    return_mean: float
    return_std: float
    grade_mean: float
    grade_std: float
    passes: int
    pass_k: float | None
    invalid_rate: float
    steps_mean: float

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def aggregate(results: Iterable[EpisodeResult], *, threshold: float = DEFAULT_THRESHOLD, k: int = DEFAULT_K) -> list[Row]:
    """Rows per (policy, task), in first-seen order, plus an 'ALL' row per policy with several
    tasks: means of the per-task numbers (pass^k averaged over tasks, as tau-bench does)."""
    groups: dict[tuple[str, str], list[EpisodeResult]] = {}
    for r in results:
        groups.setdefault((r.policy, r.task_id), []).append(r)
    rows: list[Row] = []
    by_policy: dict[str, list[Row]] = {}
    for (policy, task), rs in groups.items():
        returns = [r.total_return for r in rs]
        grades = [r.grade for r in rs]
        steps = sum(r.steps for r in rs)
        passes = sum(r.passed(threshold) for r in rs)
        row = Row(
            policy=policy,
            task_id=task,
            n=len(rs),
            return_mean=statistics.fmean(returns),
            return_std=_std(returns),
            grade_mean=statistics.fmean(grades),
            grade_std=_std(grades),
            passes=passes,
            pass_k=pass_hat_k(len(rs), passes, k),
            invalid_rate=(sum(r.invalid for r in rs) / steps) if steps else 0.0,
            steps_mean=steps / len(rs),
        )
        rows.append(row)
        by_policy.setdefault(policy, []).append(row)
    out: list[Row] = []
    for policy, prs in by_policy.items():
        out.extend(prs)
        if len(prs) > 1:
            ks = [r.pass_k for r in prs]
            out.append(
                Row(
                    policy=policy,
                    task_id="ALL",
                    n=sum(r.n for r in prs),
                    return_mean=statistics.fmean(r.return_mean for r in prs),
                    return_std=statistics.fmean(r.return_std for r in prs),
                    grade_mean=statistics.fmean(r.grade_mean for r in prs),
                    grade_std=statistics.fmean(r.grade_std for r in prs),
                    passes=sum(r.passes for r in prs),
                    pass_k=None if any(x is None for x in ks) else statistics.fmean(ks),
                    invalid_rate=statistics.fmean(r.invalid_rate for r in prs),
                    steps_mean=statistics.fmean(r.steps_mean for r in prs),
                )
            )
    return out


def format_table(rows: Sequence[Row], *, threshold: float = DEFAULT_THRESHOLD, k: int = DEFAULT_K) -> str:
    """A Markdown table (readable in a terminal too). Std is the sample std over seeds; in 'ALL'
    rows every column is the mean of the per-task values."""
    head = f"| policy | task | n | return mean ± std | grade mean ± std | pass^{k} (grade ≥ {threshold:g}) | passes | invalid % | steps |"
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        pk = "n/a" if r.pass_k is None else f"{r.pass_k:.3f}"
        lines.append(
            f"| {r.policy} | {r.task_id} | {r.n} | {r.return_mean:+.3f} ± {r.return_std:.3f} | "
            f"{r.grade_mean:.3f} ± {r.grade_std:.3f} | {pk} | {r.passes}/{r.n} | {100 * r.invalid_rate:.1f} | {r.steps_mean:.1f} |"
        )
    return "\n".join(lines)


# --- argument helpers shared by the CLI and scripts ----------------------------------------------
def parse_seeds(text: str) -> list[int]:
    """'0-9', '3', '0,2,5-7' -> sorted unique seeds; ValueError naming the bad part."""
    seeds: set[int] = set()
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ValueError(f"bad seed range {part!r}: use N, N-M or a comma list (e.g. 0-9 or 0,3,5-7)") from None
        if a < 0 or b < a:
            raise ValueError(f"bad seed range {part!r}: seeds are >= 0 and ranges go low-high")
        seeds.update(range(a, b + 1))
    if not seeds:
        raise ValueError("no seeds given")
    return sorted(seeds)


def pick(spec: str, known: Sequence[str], what: str) -> list[str]:
    """'a,b' or 'all' -> names, each checked against `known`; ValueError listing what exists."""
    names = list(known) if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        shown = ", ".join(unknown) if unknown else "(none)"
        raise ValueError(f"unknown {what} {shown}; available: {', '.join(known)} (or 'all')")
    return list(dict.fromkeys(names))


__all__ = [
    "DEFAULT_K",
    "DEFAULT_THRESHOLD",
    "EpisodeResult",
    "ParityError",
    "Remote",
    "Row",
    "aggregate",
    "expected_view",
    "format_table",
    "parse_seeds",
    "pass_hat_k",
    "pick",
    "play_episode",
    "run_eval",
    "trajectory_path",
]
