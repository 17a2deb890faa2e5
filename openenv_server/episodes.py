"""Stateful HTTP episodes, for people without a WebSocket client.

OpenEnv's POST /reset and POST /step build a fresh environment per request, so they cannot run an
episode. These routes keep one `GhostexecEnvironment` per episode, addressed by an unguessable id:

    POST   /episodes                {"task_id", "seed", "episode_id", "scenario"}  -> 201 {"id", observation, reward, done}
    POST   /episodes/{id}/step      {"action": {...}}                              -> 200 {observation, reward, done}
    GET    /episodes/{id}           -> state (world, hash), last observation (briefing, breakdown), grade
    DELETE /episodes/{id}           -> 200 {"id", "deleted": true, "grade"}

Limits: at most `max_episodes` live at once (503 `too_many_episodes` when full); an episode unused
for `idle_ttl_s` seconds expires. Unknown, deleted or expired ids get 404 `unknown_episode`.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .environment import GhostexecEnvironment, ResetError, StepRefused
from .errors import validation_errors
from .models import GhostexecAction, GhostexecObservation, GhostexecState


class EpisodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_id: str | None = Field(default=None, description="Scenario id (see /metadata); default: the core's default task.")
    seed: int | None = Field(default=None, ge=0)
    episode_id: str | None = Field(default=None, max_length=255, description="Your own label for the episode.")
    scenario: dict[str, Any] | None = Field(default=None, description="A whole scenario object for a custom world.")


class EpisodeStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: dict[str, Any] = Field(description='One action, as in /schema (e.g. {"action_type": "do_nothing"}).')


class StepOut(BaseModel):
    observation: dict[str, Any]
    reward: float | None = None
    done: bool = False


class EpisodeCreated(StepOut):
    id: str = Field(description="Unguessable id addressing this episode in /episodes/{id}.")
    idle_ttl_s: float = Field(description="The episode expires after this many seconds without a request.")


class EpisodeView(BaseModel):
    id: str
    task_id: str | None
    episode_id: str | None
    step: int
    done: bool
    observation: dict[str, Any] | None = Field(description="The last observation: briefing, step_ok/error, breakdown, ...")
    reward: float | None
    grade: dict[str, Any] | None = Field(description="Grade so far (final once done).")
    state: dict[str, Any] = Field(description="Episode info and the whole world, as the WS `state` message returns it.")
    idle_ttl_s: float


def _wire(obs: GhostexecObservation) -> dict[str, Any]:
    data = obs.model_dump(mode="json", exclude={"metadata"})
    reward = data.pop("reward", None)
    done = data.pop("done", False)
    return {"observation": data, "reward": reward, "done": done}


def _error(code: int, error: str, message: str, **extra: Any) -> HTTPException:
    return HTTPException(status_code=code, detail={"error": error, "message": message, **extra})


@dataclass
class Episode:
    id: str
    env: GhostexecEnvironment
    created_at: float
    last_used: float
    lock: threading.Lock = field(default_factory=threading.Lock)


class EpisodeStore:
    """Live HTTP episodes: bounded, idle-expiring, thread-safe."""

    def __init__(
        self,
        *,
        max_episodes: int = 256,
        idle_ttl_s: float = 1800.0,
        env_factory: Callable[[], GhostexecEnvironment] = GhostexecEnvironment,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_episodes < 1:
            raise ValueError("max_episodes must be >= 1")
        if idle_ttl_s <= 0:
            raise ValueError("idle_ttl_s must be > 0")
        self.max_episodes = max_episodes
        self.idle_ttl_s = float(idle_ttl_s)
        self._env_factory = env_factory
        self._clock = clock
        self._episodes: dict[str, Episode] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            self._sweep_locked()
            return len(self._episodes)

    def _sweep_locked(self) -> None:
        now = self._clock()
        stale = [eid for eid, ep in self._episodes.items() if now - ep.last_used > self.idle_ttl_s and not ep.lock.locked()]
        for eid in stale:
            ep = self._episodes.pop(eid)
            ep.env.close()

    def create(self, options: dict[str, Any]) -> tuple[Episode, GhostexecObservation]:
        with self._lock:
            self._sweep_locked()
            if len(self._episodes) >= self.max_episodes:
                raise _error(
                    status.HTTP_503_SERVICE_UNAVAILABLE,
                    "too_many_episodes",
                    f"{len(self._episodes)} HTTP episodes are live, the limit (GHOSTEXEC_MAX_EPISODES / --max-episodes). "
                    f"DELETE /episodes/{{id}} for finished ones, or wait: an episode expires after {self.idle_ttl_s:g} s idle.",
                    max_episodes=self.max_episodes,
                )
            eid = secrets.token_urlsafe(24)
            now = self._clock()
            ep = Episode(id=eid, env=self._env_factory(), created_at=now, last_used=now)
            self._episodes[eid] = ep  # reserve the slot before the (unlocked) reset
        with ep.lock:
            try:
                obs = ep.env.reset(**options)
            except BaseException:
                with self._lock:
                    self._episodes.pop(eid, None)
                raise
        return ep, obs

    def get(self, eid: str) -> Episode:
        with self._lock:
            self._sweep_locked()
            ep = self._episodes.get(eid)
            if ep is None:
                raise _error(
                    status.HTTP_404_NOT_FOUND,
                    "unknown_episode",
                    f"no live episode with id {eid!r}: it never existed, was deleted, or expired after "
                    f"{self.idle_ttl_s:g} s idle. Start one with POST /episodes.",
                )
            ep.last_used = self._clock()
            return ep

    def delete(self, eid: str) -> dict[str, Any]:
        ep = self.get(eid)
        with self._lock:
            self._episodes.pop(eid, None)
        with ep.lock:
            sim = ep.env.simulation
            grade = sim.grade().model_dump(mode="json") if sim is not None else None
            ep.env.close()
        return {"id": ep.id, "deleted": True, "grade": grade}

    def close_all(self) -> None:
        with self._lock:
            for ep in self._episodes.values():
                ep.env.close()
            self._episodes.clear()

    # -- operations (sync; run in a worker thread) ------------------------------------------------
    def step(self, eid: str, raw_action: Any) -> GhostexecObservation:
        try:
            action = GhostexecAction.model_validate(raw_action)
        except ValidationError as exc:
            raise HTTPException(
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=validation_errors(exc),
            ) from None
        ep = self.get(eid)
        with ep.lock:
            try:
                obs = ep.env.step(action)
            except StepRefused as exc:
                raise _error(status.HTTP_409_CONFLICT, "step_refused", str(exc)) from None
            ep.last_used = self._clock()
        return obs

    def view(self, eid: str) -> EpisodeView:
        ep = self.get(eid)
        with ep.lock:
            st: GhostexecState = ep.env.state
            obs = ep.env.observation
        wire = _wire(obs) if obs is not None else {"observation": None, "reward": None}
        return EpisodeView(
            id=ep.id,
            task_id=st.task_id,
            episode_id=st.episode_id,
            step=st.step_count,
            done=st.done,
            observation=wire["observation"],
            reward=wire["reward"],
            grade=st.grade,
            state=st.model_dump(mode="json"),
            idle_ttl_s=self.idle_ttl_s,
        )


def episode_router(store: EpisodeStore) -> APIRouter:
    router = APIRouter(prefix="/episodes", tags=["HTTP episodes"])

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=EpisodeCreated,
        summary="Start an episode (stateful HTTP)",
        responses={
            422: {"description": "Invalid options, unknown task_id or invalid scenario"},
            503: {"description": "Too many live episodes"},
        },
    )
    async def create_episode(body: EpisodeCreate | None = None) -> EpisodeCreated:
        options = (body or EpisodeCreate()).model_dump(exclude_none=True)
        try:
            ep, obs = await run_in_threadpool(store.create, options)
        except ResetError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=exc.detail()) from None
        return EpisodeCreated(id=ep.id, idle_ttl_s=store.idle_ttl_s, **_wire(obs))

    @router.post(
        "/{episode_id}/step",
        response_model=StepOut,
        summary="Take one step in an episode",
        responses={
            404: {"description": "Unknown or expired episode"},
            422: {"description": "Action shape error (no time passes)"},
        },
    )
    async def step_episode(episode_id: str, body: EpisodeStep) -> StepOut:
        obs = await run_in_threadpool(store.step, episode_id, body.action)
        return StepOut(**_wire(obs))

    @router.get("/{episode_id}", response_model=EpisodeView, summary="State, briefing, breakdown and grade of an episode")
    async def get_episode(episode_id: str) -> EpisodeView:
        return await run_in_threadpool(store.view, episode_id)

    @router.delete("/{episode_id}", summary="End an episode and free its slot")
    async def delete_episode(episode_id: str) -> dict[str, Any]:
        return await run_in_threadpool(store.delete, episode_id)

    return router


def register_episode_routes(app: FastAPI, store: EpisodeStore) -> None:
    app.include_router(episode_router(store))
    app.state.episode_store = store
