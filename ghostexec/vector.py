"""`VectorSimulation`: N episodes stepped together in one process, for high-throughput rollouts.

    vec = VectorSimulation("phase2_core", n=64, seeds=range(64))
    obs = vec.reset()
    out = vec.step([policy(sim, rng) for sim, rng in zip(vec.sims, rngs)])
    out.rewards, out.dones, out.observations, out.infos

Each slot is an ordinary `Simulation` (so every slot is bit-for-bit the episode a single
Simulation, or a server, would play with the same scenario, seed and actions; a test compares
state hashes). What this buys, honestly, in pure Python: no server, no serialisation, no
per-episode set-up in the caller, and an optional lighter observation (`lazy_briefing=True`: the
briefing text is rendered only when asked for with `briefing(i)`). It does not run slots in
parallel: a step is ~0.1-0.2 ms of interpreted Python, and the GIL serialises them. For more,
run one VectorSimulation per process (bench/vector_bench.py prints the numbers).

`auto_reset=True` restarts a finished slot at once with the next seed (seed + n, seed + 2n, ...);
the step that finished it still reports `done=True` with its final observation, and its grade is in
`infos[i]["grade"]`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .briefing import render
from .results import Observation, StepResult
from .simulation import Simulation


class _Slot(Simulation):
    """A Simulation whose briefing can be rendered on demand instead of at every step. Everything
    else in the observation is built exactly as the base class builds it."""

    lazy = False
    _desc: str | None = None

    def _briefing(self, desc: str | None) -> str:
        self._desc = desc
        return "" if self.lazy else super()._briefing(desc)

    def briefing(self) -> str:
        if self.observation is not None and self.observation.briefing:
            return self.observation.briefing
        return render(self.world, last_action=self._desc)


@dataclass
class VectorStep:
    observations: list[Observation]
    rewards: list[float]
    dones: list[bool]
    infos: list[dict[str, Any]]
    results: list[StepResult]


class VectorSimulation:
    """N independent episodes (of one task, or one task per slot) stepped together."""

    def __init__(
        self,
        tasks: str | Sequence[str],
        n: int | None = None,
        seeds: Iterable[int] | None = None,
        *,
        auto_reset: bool = False,
        lazy_briefing: bool = False,
    ):
        task_list = [tasks] if isinstance(tasks, str) else list(tasks)
        if n is None:
            n = len(task_list)
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        if len(task_list) == 1:
            task_list = task_list * n
        if len(task_list) != n:
            raise ValueError(f"give one task, or one task per slot: got {len(task_list)} tasks for n={n}")
        seed_list = list(range(n)) if seeds is None else [int(s) for s in seeds]
        if len(seed_list) != n:
            raise ValueError(f"need {n} seeds, got {len(seed_list)}")
        self.n = n
        self.tasks = task_list
        self.seeds = seed_list
        self.auto_reset = auto_reset
        self.sims: list[_Slot] = []
        for _ in range(n):
            sim = _Slot()
            sim.lazy = lazy_briefing
            self.sims.append(sim)
        self.episodes = [0] * n  # how many episodes each slot has finished

    def reset(self, seeds: Iterable[int] | None = None) -> list[Observation]:
        if seeds is not None:
            seeds = [int(s) for s in seeds]
            if len(seeds) != self.n:
                raise ValueError(f"need {self.n} seeds, got {len(seeds)}")
            self.seeds = seeds
        self.episodes = [0] * self.n
        return [sim.reset(task_id=t, seed=s) for sim, t, s in zip(self.sims, self.tasks, self.seeds)]

    def _seed_of(self, i: int) -> int:
        return self.seeds[i] + self.episodes[i] * self.n

    def step(self, actions: Sequence[Any]) -> VectorStep:
        """One action per slot. A finished slot (without auto_reset) refuses its action, as a
        single Simulation does (reward 0, no step); with auto_reset it has already restarted."""
        if len(actions) != self.n:
            raise ValueError(f"need {self.n} actions, got {len(actions)}")
        results = [sim.step(a) for sim, a in zip(self.sims, actions)]
        if self.auto_reset:
            for i, res in enumerate(results):
                if res.done and not res.info.get("rejected"):
                    self.episodes[i] += 1
                    self.sims[i].reset(task_id=self.tasks[i], seed=self._seed_of(i))
        return VectorStep(
            observations=[r.observation for r in results],
            rewards=[r.reward for r in results],
            dones=[r.done for r in results],
            infos=[r.info for r in results],
            results=results,
        )

    def briefing(self, i: int) -> str:
        """Slot i's current briefing (rendered now if the slot is lazy)."""
        return self.sims[i].briefing()

    @property
    def dones(self) -> list[bool]:
        return [sim.done for sim in self.sims]

    def state_hashes(self) -> list[str]:
        return [sim.state_hash() for sim in self.sims]


__all__ = ["VectorSimulation", "VectorStep"]
