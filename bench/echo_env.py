"""The trivial OpenEnv environment the benches measure Ghostexec against (the transport floor).

`EchoEnv` is a default OpenEnv environment: only the plain `step`/`reset`, so OpenEnv's server runs
them on its per-session thread, as it would any environment that does not override the async
methods. `InlineEchoEnv` overrides `step_async`/`reset_async` to run inline, as
`GhostexecEnvironment` does.
"""

from __future__ import annotations

from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import Action, Observation, State


class EchoAction(Action):
    message: str = ""


class EchoObservation(Observation):
    echo: str = ""


class EchoEnv(Environment):
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self):
        super().__init__()
        self._state = State(episode_id="echo", step_count=0)

    def reset(self, seed=None, episode_id=None, **kw):
        self._state = State(episode_id=episode_id or "echo", step_count=0)
        return EchoObservation(echo="", reward=0.0)

    def step(self, action, timeout_s=None, **kw):
        self._state.step_count += 1
        return EchoObservation(echo=action.message, reward=0.0)

    @property
    def state(self):
        return self._state


class InlineEchoEnv(EchoEnv):
    async def reset_async(self, seed=None, episode_id=None, **kw):
        return self.reset(seed=seed, episode_id=episode_id, **kw)

    async def step_async(self, action, timeout_s=None, **kw):
        return self.step(action, timeout_s=timeout_s, **kw)
