"""`GhostexecEnv`: a typed OpenEnv client for a Ghostexec server (WebSocket `/ws`, one session each).

openenv-core 0.3.0 clients are async; in synchronous code call `.sync()`:

    from openenv_server.client import GhostexecEnv
    from openenv_server.models import DoNothingAction, ReplyEmailAction

    with GhostexecEnv(base_url="http://127.0.0.1:8000").sync() as env:
        result = env.reset(task_id="phase2_core", seed=0)
        print(result.observation.briefing)
        result = env.step(ReplyEmailAction(email_id="e01", body="Thanks, Margaret; answers by 3pm."))
        print(result.reward, result.observation.step_ok, result.observation.error)
        while not result.done:
            result = env.step(DoNothingAction())
        print(result.observation.grade["score"])
        print(env.state().state_hash)

Async: `async with GhostexecEnv(base_url=...) as env: result = await env.reset(...)`.

`step` accepts a `GhostexecAction` (e.g. `ReplyEmailAction(...)`), a core action model
(`ghostexec.actions.ReplyEmail(...)`) or a plain dict with `action_type`; it is validated locally
first, so a shape error raises `pydantic.ValidationError` without a round trip. Server-side errors
(unknown reset option or task, invalid scenario, episode over) raise `RuntimeError` with the
server's message; the session stays open.

A server protected by a bearer token (`GHOSTEXEC_TOKEN`, see docs/security.md) needs
`GhostexecEnv(base_url=..., token="...")`. If the connection is lost mid-episode (server restarted,
network cut), the call raises `ConnectionError` saying so: the episode lived in that connection and
is gone; the next call opens a new connection, where you start again with `reset`.
"""

from __future__ import annotations

from typing import Any

from openenv.core import EnvClient
from openenv.core.client_types import StepResult
from pydantic import BaseModel
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from .models import GhostexecAction, GhostexecObservation, GhostexecState


class GhostexecEnv(EnvClient[GhostexecAction, GhostexecObservation, GhostexecState]):
    """One Ghostexec session over OpenEnv's WebSocket protocol."""

    def __init__(self, base_url: str = "http://127.0.0.1:8000", *, token: str | None = None, **kwargs: Any):
        # Steps are fast, but give slow shared hosts room before the client drops the socket
        # (a timeout loses the session, and with it the episode).
        kwargs.setdefault("message_timeout_s", 120.0)
        super().__init__(base_url, **kwargs)
        object.__setattr__(self, "_token", token)

    async def connect(self) -> GhostexecEnv:
        """OpenEnv's connect, plus the bearer token header when one is given."""
        if self._ws is not None or not self._token:
            await super().connect()
            return self
        try:
            self._ws = await ws_connect(
                self._ws_url,
                open_timeout=self._connect_timeout,
                max_size=self._max_message_size,
                additional_headers={"Authorization": f"Bearer {self._token}"},
            )
        except Exception as e:
            raise ConnectionError(f"Failed to connect to {self._ws_url}: {e}") from e
        return self

    async def _send_and_receive(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            return await super()._send_and_receive(message)
        except ConnectionClosed as exc:
            self._ws = None  # the next call reconnects (to a new, empty session)
            raise ConnectionError(
                f"lost the connection to {self._ws_url} ({exc}): the server restarted or the network dropped. "
                "The episode lived in that session and is gone; call reset() to start a new one."
            ) from exc

    async def reset(  # type: ignore[override]
        self,
        task_id: str | None = None,
        seed: int | None = None,
        episode_id: str | None = None,
        scenario: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> StepResult[GhostexecObservation]:
        """Start an episode: a shipped task (`task_id`, see /metadata) or a custom `scenario` dict."""
        options = {"task_id": task_id, "seed": seed, "episode_id": episode_id, "scenario": scenario, **kwargs}
        return await super().reset(**{k: v for k, v in options.items() if v is not None})

    def _step_payload(self, action: Any) -> dict[str, Any]:
        if not isinstance(action, GhostexecAction):
            raw = action.model_dump(exclude_none=True) if isinstance(action, BaseModel) else action
            action = GhostexecAction.model_validate(raw)
        payload = action.model_dump(exclude_none=True)
        if not payload.get("metadata"):
            payload.pop("metadata", None)
        return payload

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[GhostexecObservation]:
        obs = dict(payload.get("observation") or {})
        obs["reward"] = payload.get("reward")
        obs["done"] = bool(payload.get("done", False))
        observation = GhostexecObservation.model_validate(obs)
        return StepResult(observation=observation, reward=payload.get("reward"), done=observation.done)

    def _parse_state(self, payload: dict[str, Any]) -> GhostexecState:
        return GhostexecState.model_validate(payload)


__all__ = ["GhostexecEnv"]
