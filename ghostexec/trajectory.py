"""Trajectories as JSONL, and replay that proves a file still describes the simulation.

One file is one episode:

    {"type": "header", "format": "ghostexec-trajectory/1", "task_id", "seed", "episode_id", "policy",
     "transport", "scenario_hash", "ghostexec_version", "observation_hash", "state_hash"}
    {"type": "step", "index", "step", "action", "rejected", "step_ok", "error", "reward", "breakdown",
     "events", "changes", "observation_hash", "state_hash"}          (one line per action sent)
    {"type": "final", "steps", "return", "grade", "state_hash"}

`action` is the action exactly as the policy sent it (a shape error is kept: it is refused without a
step on every transport, and replay must refuse it too). Hashes are what make a file checkable:
`observation_hash` covers everything the agent saw after the step (briefing, reward and its
breakdown, flags; `observation_hash()` below), `state_hash` the whole world including what decides
the future (`Simulation.state_hash()`). `replay()` re-runs the actions through a fresh Simulation
and names the first step whose hashes differ, so a changed scenario, a change in the dynamics or an
edited file is caught at the step where it shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .results import Observation, StepResult
from .scenario import Scenario, load_task

FORMAT = "ghostexec-trajectory/1"


def _digest(data: Any) -> str:
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def observation_hash(obs: Observation) -> str:
    """Digest of one observation as the agent sees it. The episode id is left out (like in
    `state_hash`): it is a label, and the same scenario, seed and actions must give the same hash
    whatever the episode was called. Wire observations (e.g. OpenEnv's subclass) hash the same as
    the core's because only the core fields are read."""
    data = {name: getattr(obs, name) for name in Observation.model_fields if name != "episode_id"}
    if data["breakdown"] is not None:
        data["breakdown"] = data["breakdown"].model_dump(mode="json")
    return _digest(data)


def scenario_hash(scenario: Scenario) -> str:
    """Digest of a scenario's content: a trajectory recorded against another version of the
    scenario is reported as such before any step is compared."""
    return _digest(scenario.model_dump(mode="json", by_alias=True))


def header(
    *,
    task_id: str,
    seed: int,
    episode_id: str,
    policy: str,
    transport: str,
    scenario: Scenario,
    observation: Observation,
    state_hash: str,
) -> dict[str, Any]:
    from . import __version__

    return {
        "type": "header",
        "format": FORMAT,
        "task_id": task_id,
        "seed": seed,
        "episode_id": episode_id,
        "policy": policy,
        "transport": transport,
        "scenario_hash": scenario_hash(scenario),
        "ghostexec_version": __version__,
        "observation_hash": observation_hash(observation),
        "state_hash": state_hash,
    }


def step_line(index: int, action: Any, result: StepResult, state_hash: str) -> dict[str, Any]:
    """The record of one action sent. `index` counts every action sent (refused ones too)."""
    obs = result.observation
    rejected = bool(result.info.get("rejected"))
    bd = result.breakdown
    return {
        "type": "step",
        "index": index,
        "step": obs.step,
        "action": _jsonable_action(action),
        "rejected": rejected,
        "step_ok": obs.step_ok and not rejected,
        "error": obs.error,
        "reward": result.reward,
        "breakdown": None if bd is None else {c.name: c.value for c in bd.components},
        "events": list(result.info.get("events", [])),
        "changes": list(result.info.get("changes", [])),
        "observation_hash": observation_hash(obs),
        "state_hash": state_hash,
    }


def final_line(steps: int, total: float, grade: Any, state_hash: str) -> dict[str, Any]:
    return {
        "type": "final",
        "steps": steps,
        "return": total,
        "grade": grade.model_dump(mode="json") if hasattr(grade, "model_dump") else grade,
        "state_hash": state_hash,
    }


def _jsonable_action(action: Any) -> Any:
    if hasattr(action, "model_dump"):
        return action.model_dump(mode="json", exclude_none=True)
    return json.loads(json.dumps(action, default=str))


def write(path: Path | str, lines: Iterable[dict[str, Any]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path


class TrajectoryError(ValueError):
    """The file is not a trajectory this version can read (says which line and why)."""


def read(path: Path | str) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any] | None]:
    """(header, step lines, final line or None) of a trajectory file."""
    head: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = []
    final: dict[str, Any] | None = None
    with Path(path).open(encoding="utf-8") as f:
        for n, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise TrajectoryError(f"line {n}: not JSON ({exc.msg})") from None
            kind = line.get("type") if isinstance(line, dict) else None
            if n == 1:
                if kind != "header":
                    raise TrajectoryError("line 1: expected the header line ({'type': 'header', ...})")
                if line.get("format") != FORMAT:
                    raise TrajectoryError(f"line 1: format {line.get('format')!r} is not {FORMAT!r}")
                head = line
            elif kind == "step":
                if final is not None:
                    raise TrajectoryError(f"line {n}: a step after the final line")
                steps.append(line)
            elif kind == "final":
                final = line
            else:
                raise TrajectoryError(f"line {n}: unknown line type {kind!r} (expected 'step' or 'final')")
    if head is None:
        raise TrajectoryError("empty file: no header line")
    return head, steps, final


@dataclass
class ReplayReport:
    """What replay found. `ok` only if every hash and the final grade matched."""

    ok: bool
    steps: int
    message: str
    index: int | None = None  # the first differing step line's `index`, if any
    field: str | None = None  # which record differs: observation_hash, state_hash, reward, grade...


def replay(path: Path | str) -> ReplayReport:
    """Re-run a trajectory's actions in a fresh in-process Simulation and compare every recorded
    hash; stop at the first difference and name the step and the field."""
    from .simulation import Simulation

    head, lines, final = read(path)
    task_id, seed = head.get("task_id"), head.get("seed")
    try:
        scenario = load_task(task_id)
    except KeyError as exc:
        return ReplayReport(False, 0, str(exc.args[0]), field="task_id")
    if scenario_hash(scenario) != head.get("scenario_hash"):
        return ReplayReport(
            False,
            0,
            f"scenario '{task_id}' has changed since the trajectory was recorded (scenario_hash differs)",
            field="scenario_hash",
        )
    sim = Simulation()
    obs = sim.reset(task_id=task_id, seed=seed, episode_id=head.get("episode_id"))
    for name, got in (("observation_hash", observation_hash(obs)), ("state_hash", sim.state_hash())):
        if got != head.get(name):
            return ReplayReport(
                False, 0, f"reset (header) differs: {name} {got[:12]} != recorded {str(head.get(name))[:12]}", field=name
            )
    total = 0.0
    taken = 0
    for line in lines:
        index = line.get("index")
        res = sim.step(line.get("action"))
        got = {
            "rejected": bool(res.info.get("rejected")),
            "observation_hash": observation_hash(res.observation),
            "state_hash": sim.state_hash(),
            "reward": res.reward,
        }
        for name in ("rejected", "observation_hash", "state_hash", "reward"):
            if got[name] != line.get(name):
                want, have = line.get(name), got[name]
                if isinstance(have, str):
                    want, have = str(want)[:12], have[:12]
                return ReplayReport(
                    False,
                    taken,
                    f"step index {index} (simulation step {line.get('step')}): {name} differs: replay {have} != recorded {want}",
                    index=index,
                    field=name,
                )
        if not got["rejected"]:
            taken += 1
            total += res.reward
    if final is not None:
        grade = sim.grade().model_dump(mode="json")
        recorded = final.get("grade") or {}
        if sim.state_hash() != final.get("state_hash"):
            return ReplayReport(False, taken, "final line: state_hash differs", field="state_hash")
        if grade.get("score") != recorded.get("score"):
            return ReplayReport(
                False,
                taken,
                f"final line: grade differs: replay {grade.get('score')} != recorded {recorded.get('score')}",
                field="grade",
            )
        if final.get("steps") != taken:
            return ReplayReport(False, taken, f"final line: steps {final.get('steps')} != {taken} replayed", field="steps")
    return ReplayReport(True, taken, f"ok {taken} steps")


__all__ = [
    "FORMAT",
    "ReplayReport",
    "TrajectoryError",
    "final_line",
    "header",
    "observation_hash",
    "read",
    "replay",
    "scenario_hash",
    "step_line",
    "write",
]
