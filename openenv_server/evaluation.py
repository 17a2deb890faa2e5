"""The OpenEnv transport for `ghostexec eval --transport openenv`: one WebSocket session through
`GhostexecEnv`, reporting what the server answered as a *view* for the core to compare with its
in-process mirror (`ghostexec.evaluation`). Nothing is compared or computed here.

A view carries the observation hash (the wire observation hashes like the core's: same fields),
the reward and the server's state hash (one extra `state` message per step: the price of checking
parity at every step rather than at the end).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ghostexec.trajectory import observation_hash

from .client import GhostexecEnv


class OpenEnvRemote:
    name = "openenv"

    def __init__(self, base_url: str, token: str | None = None):
        self._env = GhostexecEnv(base_url=base_url, token=token).sync()
        self._env.connect()

    def _view(self, result: Any) -> dict[str, Any]:
        obs = result.observation
        if obs.reward is None:  # the client puts the top-level reward back; after reset it is 0.0
            obs = obs.model_copy(update={"reward": 0.0})
        return {
            "rejected": False,
            "observation_hash": observation_hash(obs),
            "reward": result.reward if result.reward is not None else 0.0,
            "done": bool(result.done),
            "state_hash": self._env.state().state_hash,
        }

    def reset(self, task_id: str, seed: int, episode_id: str) -> dict[str, Any]:
        return self._view(self._env.reset(task_id=task_id, seed=seed, episode_id=episode_id))

    def step(self, action: Any) -> dict[str, Any]:
        try:
            result = self._env.step(action)
        except ValidationError:  # refused before the step (the client validates the shape locally)
            return {"rejected": True}
        return self._view(result)

    def close(self) -> None:
        self._env.close()


__all__ = ["OpenEnvRemote"]
