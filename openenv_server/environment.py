"""`GhostexecEnvironment`: the OpenEnv `Environment` over one `ghostexec.Simulation`.

Thin on purpose: reset/step/state forward to the core and translate its models to the wire types in
`openenv_server.models`. Nothing about the office is computed here.

Reset options (WS `{"type": "reset", "data": {...}}`, POST /reset, POST /episodes):
`task_id` (a scenario id; see /metadata or openenv.yaml), `seed` (int >= 0), `episode_id` (your
label, <= 255 chars) and `scenario` (a whole scenario object for a custom world; validated by the
core). Unknown options are an error, not silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import EnvironmentMetadata

import ghostexec
from ghostexec.results import build
from ghostexec.view import task_catalogue

from .models import GhostexecAction, GhostexecObservation, GhostexecState

RESET_OPTIONS = ("task_id", "seed", "episode_id", "scenario")


class ResetError(ValueError):
    """A reset the core refused (unknown task, invalid scenario, bad option). `code` and `problems`
    feed the structured HTTP error; `str()` is the WS error message."""

    def __init__(self, code: str, message: str, problems: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = problems or []

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.problems:
            out["problems"] = self.problems
        return out


class StepRefused(ValueError):
    """The simulation took no step: no episode yet, the episode is over, or (should the wire model
    ever let one through) an action of the wrong shape. `str()` says why."""


class NoEpisodeError(StepRefused):
    """step before any reset."""


def _default_simulation() -> Any:
    return ghostexec.Simulation()


def _dump(model: Any) -> Any:
    if model is None:
        return None
    if hasattr(model, "model_dump"):
        return model.model_dump(mode="json")
    return model


def _problems(exc: Exception) -> list[dict[str, str]]:
    out = []
    for p in getattr(exc, "problems", None) or []:
        if isinstance(p, tuple | list) and len(p) == 2:
            out.append({"path": str(p[0]), "message": str(p[1])})
        elif hasattr(p, "path") and hasattr(p, "message"):
            out.append({"path": str(p.path), "message": str(p.message)})
        else:
            out.append({"path": "", "message": str(p)})
    return out


def check_reset_options(options: dict[str, Any]) -> dict[str, Any]:
    """Validate reset options' names and types (not their meaning: that is the core's job)."""
    unknown = sorted(set(options) - set(RESET_OPTIONS))
    if unknown:
        raise ResetError(
            "invalid_reset_option",
            f"unknown reset option(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(RESET_OPTIONS)}",
        )
    seed, task_id, episode_id, scenario = (options.get(k) for k in ("seed", "task_id", "episode_id", "scenario"))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ResetError("invalid_reset_option", f"seed must be an integer >= 0, got {seed!r}")
    if task_id is not None and not isinstance(task_id, str):
        raise ResetError("invalid_reset_option", f"task_id must be a string, got {type(task_id).__name__}")
    if episode_id is not None and (not isinstance(episode_id, str) or len(episode_id) > 255):
        raise ResetError("invalid_reset_option", "episode_id must be a string of at most 255 characters")
    if scenario is not None and not isinstance(scenario, dict):
        raise ResetError("invalid_reset_option", f"scenario must be a JSON object, got {type(scenario).__name__}")
    return {k: v for k, v in options.items() if v is not None}


def to_wire_observation(core_obs: Any, grade: Any = None) -> GhostexecObservation:
    """Core Observation -> wire observation, without re-validating what the core already built."""
    values = dict(core_obs.__dict__)  # every core field: the core builds them all (results.build)
    values["metadata"] = {}
    values["grade"] = _dump(grade) if grade is not None else None
    return build(GhostexecObservation, **values)


@lru_cache(maxsize=1)
def _tasks_line() -> str:
    try:
        tasks = task_catalogue()
    except Exception as exc:  # a broken scenario file must not take /metadata down
        return f"unavailable ({type(exc).__name__}: {exc})"
    return ", ".join(f"{t['id']} ({t['difficulty']}, {t['step_budget']} steps)" for t in tasks) or "none found"


def environment_metadata() -> EnvironmentMetadata:
    tasks = _tasks_line()
    return EnvironmentMetadata(
        name="ghostexec",
        description=(
            "Ghostexec: a simulated workday for one busy executive. The agent acts as chief of staff "
            "(reply/archive email, reschedule/cancel meetings, complete/delegate tasks, message contacts) "
            "and is rewarded per step with a breakdown; a grade in (0.01, 0.99) scores the episode. "
            f"Tasks: {tasks}. Reset options: task_id, seed, episode_id, scenario."
        ),
        version=ghostexec.__version__,
        author="Ghostexec",
        documentation_url="docs/openenv.md",
    )


class GhostexecEnvironment(Environment[GhostexecAction, GhostexecObservation, GhostexecState]):
    """One episode at a time over a private `ghostexec.Simulation` (one instance per WS session)."""

    SUPPORTS_CONCURRENT_SESSIONS = True
    # A step is brief, CPU-bound and never blocks, and step_async only calls step: the /ws endpoint
    # may answer a step message inside the socket's read callback (openenv_server/ws_endpoint.py).
    STEPS_INLINE = True

    def __init__(self, simulation_factory: Callable[[], Any] | None = None):
        super().__init__()
        self._factory = simulation_factory or _default_simulation
        self._sim: Any = None

    # -- OpenEnv API -------------------------------------------------------------------------
    def reset(  # type: ignore[override]
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        task_id: str | None = None,
        scenario: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> GhostexecObservation:
        options = check_reset_options(
            {"seed": seed, "episode_id": episode_id, "task_id": task_id, "scenario": scenario, **kwargs}
        )
        sim = self._factory()  # a fresh world per reset: a refused reset leaves the old episode intact
        try:
            core_obs = sim.reset(**options)
        except ghostexec.ScenarioError as exc:
            problems = _problems(exc)
            listed = "; ".join(f"{p['path']}: {p['message']}" if p["path"] else p["message"] for p in problems[:20])
            raise ResetError("invalid_scenario", f"invalid scenario: {listed or exc}", problems) from None
        except KeyError as exc:
            msg = exc.args[0] if exc.args else f"unknown task_id {task_id!r}"
            raise ResetError("unknown_task", str(msg)) from None
        except Exception as exc:
            if "scenario" not in options:
                raise  # a shipped task failing to load is a server bug, not bad input
            # The core's validator let something through that it cannot run (e.g. a timezone-aware
            # datetime): still the client's input, so a 4xx / error message, never a 500.
            raise ResetError("invalid_scenario", f"invalid scenario: {type(exc).__name__}: {exc}") from None
        self._sim = sim
        return to_wire_observation(core_obs)

    def step(self, action: Any, timeout_s: float | None = None, **kwargs: Any) -> GhostexecObservation:  # type: ignore[override]
        sim = self._sim
        if sim is None:
            raise NoEpisodeError("no episode is running in this session: send a reset first")
        core_action = action.to_core() if isinstance(action, GhostexecAction) else action
        res = sim.step(core_action)
        if res.info.get("rejected"):
            # No step was taken (episode over; a shape error the wire model let through): say why.
            raise StepRefused(res.observation.error or "the simulation refused the action")
        return to_wire_observation(res.observation, sim.grade() if res.done else None)

    # The server calls these on its event loop (OpenEnv uses *_async when a subclass overrides them).
    # A core step or reset is CPU-bound and well under a millisecond, so running it inline is cheaper
    # than OpenEnv's default hop to a per-session thread, which under the GIL only adds latency.
    async def reset_async(  # type: ignore[override]
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        task_id: str | None = None,
        scenario: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> GhostexecObservation:
        return self.reset(seed=seed, episode_id=episode_id, task_id=task_id, scenario=scenario, **kwargs)

    async def step_async(self, action: Any, timeout_s: float | None = None, **kwargs: Any) -> GhostexecObservation:  # type: ignore[override]
        return self.step(action, timeout_s=timeout_s, **kwargs)

    @property
    def state(self) -> GhostexecState:
        sim = self._sim
        if sim is None:
            return GhostexecState(episode_id=None, step_count=0)
        return GhostexecState(
            episode_id=sim.episode_id,
            step_count=sim.observation.step,
            task_id=sim.task_id,
            done=bool(sim.done),
            state_hash=sim.state_hash(),
            grade=_dump(sim.grade()),
            world=sim.public_state(),  # the answer key (expectations, reliability) stays server-side
        )

    def get_metadata(self) -> EnvironmentMetadata:
        return environment_metadata()

    def close(self) -> None:
        self._sim = None

    # -- helpers for the HTTP episode routes ---------------------------------------------------
    @property
    def simulation(self) -> Any:
        return self._sim

    @property
    def observation(self) -> GhostexecObservation | None:
        sim = self._sim
        if sim is None:
            return None
        return to_wire_observation(sim.observation, sim.grade() if sim.done else None)
