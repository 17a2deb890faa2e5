"""The MCP transport for `ghostexec eval --transport mcp`: a real MCP client over Streamable HTTP
on one episode URL (restarted with `start_episode` for each evaluation episode), reporting what the
server answered as a *view* for the core to compare with its in-process mirror
(`ghostexec.evaluation`). Nothing is compared or computed here.

The agent-facing surface carries no reward, so the view is assembled from what MCP exposes: the
tool's structured result (ok, error, step, done), the `ghostexec://briefing` resource, and the
harness resource `ghostexec://control` (last reward and breakdown, state hash). Synchronous on the
outside (the evaluation loop is), async inside, on a private event loop thread.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import httpx
from anyio.from_thread import start_blocking_portal
from mcp import Client

from ghostexec import ACTION_TYPES

from . import BRIEFING_URI, CONTROL_URI


class McpRemote:
    name = "mcp"

    def __init__(self, base_url: str, prefix: str = "/mcp-std", token: str | None = None):
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        created = httpx.post(base_url.rstrip("/") + prefix + "/episodes", json={}, headers=auth, timeout=30)
        created.raise_for_status()
        self.url = created.json()["url"]
        if token:  # the MCP client takes a URL; a protected server also accepts the token as ?token=
            self.url += ("&" if "?" in self.url else "?") + urlencode({"token": token})
        self._portal_cm = start_blocking_portal()
        self._portal = self._portal_cm.__enter__()
        try:
            self._client_cm = self._portal.wrap_async_context_manager(Client(self.url, mode="auto"))
            self._client = self._client_cm.__enter__()
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise

    def _call(self, fn: Any, *args: Any) -> Any:
        return self._portal.call(fn, *args)

    def _read(self, uri: str) -> str:
        return self._call(self._client.read_resource, uri).contents[0].text

    def _world_view(self) -> dict[str, Any]:
        control = json.loads(self._read(CONTROL_URI))
        view = {"rejected": False, "briefing": self._read(BRIEFING_URI), "state_hash": control["state_hash"]}
        last = control["history"][-1] if control["history"] else None
        if last is not None:
            view["reward"], view["breakdown"] = last["reward"], last["breakdown"]
        return view

    def reset(self, task_id: str, seed: int, episode_id: str) -> dict[str, Any]:
        res = self._call(self._client.call_tool, "start_episode", {"task_id": task_id, "seed": seed, "episode_id": episode_id})
        if res.is_error:
            raise RuntimeError(f"MCP start_episode failed: {res.content[0].text if res.content else res}")
        return self._world_view()

    def step(self, action: Any) -> dict[str, Any]:
        if not isinstance(action, dict) or action.get("action_type") not in ACTION_TYPES:
            return {"rejected": True}  # no such tool: the client cannot even name the call
        args = {k: v for k, v in action.items() if k != "action_type"}
        res = self._call(self._client.call_tool, action["action_type"], args)
        if res.is_error and res.structured_content is None:  # invalid arguments: refused, no step taken
            return {"rejected": True}
        sc = res.structured_content or {}
        return {
            **self._world_view(),
            "step": sc.get("step"),
            "step_ok": sc.get("ok"),
            "error": sc.get("error"),
            "done": sc.get("done"),
        }

    def close(self) -> None:
        try:
            self._client_cm.__exit__(None, None, None)
        finally:
            self._portal_cm.__exit__(None, None, None)


__all__ = ["McpRemote"]
