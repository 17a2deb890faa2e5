"""Episodes behind the MCP server, and how a request finds its own.

An `Episode` is one `ghostexec.Simulation` plus the bookkeeping MCP needs around it (who is
subscribed to which resource, in both protocol eras). The `EpisodeRegistry` owns them:

- stdio (and in-memory tests): a *fixed* registry with exactly one episode per process.
- Streamable HTTP: many episodes, isolated per client.
    * handshake era (<= 2025-11-25): each MCP session (Mcp-Session-Id, i.e. one SDK `Connection`)
      gets its own episode, created on first use and dropped when the session ends;
    * 2026-07-28 (stateless, no session): the episode is addressed by URL,
      `/mcp-std/episodes/{handle}/`; `start_episode` at the lobby URL mints one and returns it.
  Any client may also use an episode URL (a harness and an agent can share one that way).

`Binding` is what a request resolved to (set per request by the server middleware, read through
`current()` by tools and resources). It creates the session's episode lazily, so `initialize`,
`tools/list` and friends never build a simulation.
"""

from __future__ import annotations

import contextlib
import contextvars
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler

import ghostexec

SESSION_KEY = "ghostexec.episode"  # Connection.state key (handshake-era sessions)
SCOPE_KEY = "ghostexec.episode"  # ASGI scope["state"] key set by the HTTP dispatcher (episode URLs)
BASE_URL_KEY = "ghostexec.base_url"  # ASGI scope["state"] key: external URL of the standard endpoint


class NoEpisode(LookupError):
    """The request is not bound to any episode (a 2026-era client at the lobby URL)."""


class RegistryFull(NoEpisode):
    """`max_episodes` episodes are live: a new one is refused (nobody else's episode is evicted)."""


@dataclass(eq=False)
class Episode:
    handle: str
    sim: Any  # ghostexec.Simulation
    seed: int
    session_bound: bool = False  # owned by one handshake-era MCP session
    last_used: float = field(default_factory=time.monotonic)
    # 2026-07-28 `subscriptions/listen` streams of this episode only: one bus per episode, so a
    # client never hears about another client's world.
    bus: InMemorySubscriptionBus = field(default_factory=InMemorySubscriptionBus)
    listen: ListenHandler = field(init=False)
    listen_uris: Counter[str] = field(default_factory=Counter)
    # Handshake-era `resources/subscribe`: subscriber key -> (send_resource_updated, uris).
    legacy_subs: dict[int, tuple[Callable[[str], Any], set[str]]] = field(default_factory=dict)
    # Last content seen per subscribed entity URI, to notify only when it really changed.
    entity_cache: dict[str, str] = field(default_factory=dict)

    # Steps run on a worker thread (see server.run_action); every read or write of `sim` holds this.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.listen = ListenHandler(self.bus)

    @property
    def obs(self) -> Any:
        """The latest Observation (reset or last step taken): what the briefing shows. The core
        keeps it (`Simulation.observation`); refused inputs do not replace it."""
        return self.sim.observation

    def step(self, action: dict[str, Any]) -> Any:
        """One core step, serialised per episode."""
        with self.lock:
            return self.sim.step(action)

    def touch(self) -> None:
        self.last_used = time.monotonic()

    def subscribed_uris(self) -> set[str]:
        uris = {u for u, n in self.listen_uris.items() if n > 0}
        for _send, subs in self.legacy_subs.values():
            uris |= subs
        return uris


class EpisodeRegistry:
    """Creates, finds and expires episodes. Thread-safe for creation and lookup."""

    def __init__(
        self,
        *,
        default_task: str | None = None,
        default_seed: int = 0,
        max_episodes: int = 512,
        idle_ttl_s: float = 4 * 3600,
        sim_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.default_task = default_task
        self.default_seed = default_seed
        self.max_episodes = max_episodes
        self.idle_ttl_s = idle_ttl_s
        self._sim_factory = sim_factory
        self._episodes: dict[str, Episode] = {}
        self._lock = threading.Lock()
        self.fixed: Episode | None = None

    @classmethod
    def single(cls, task_id: str | None = None, seed: int = 0, episode_id: str | None = None, **kw: Any) -> EpisodeRegistry:
        """One episode for the whole process (stdio). Raises KeyError for an unknown task."""
        reg = cls(default_task=task_id, default_seed=seed, **kw)
        reg.fixed = reg.create(task_id, seed, episode_id)
        return reg

    def _new_sim(self) -> Any:
        return self._sim_factory() if self._sim_factory else ghostexec.Simulation()

    def reset(self, ep: Episode, task_id: str | None, seed: int | None, episode_id: str | None = None) -> Any:
        """Start a new episode in place (same handle). Raises KeyError for an unknown task."""
        task = task_id or self.default_task
        s = self.default_seed if seed is None else seed
        kwargs: dict[str, Any] = {"seed": s, "episode_id": episode_id}
        if task is not None:
            kwargs["task_id"] = task
        with ep.lock:
            obs = ep.sim.reset(**kwargs)
            ep.seed = s
            ep.entity_cache.clear()
        ep.touch()
        return obs

    def create(
        self, task_id: str | None = None, seed: int | None = None, episode_id: str | None = None, *, handle: str | None = None
    ) -> Episode:
        """A new episode under a fresh random handle, or under `handle` (a client-chosen name; an
        existing episode of that name is returned as it is)."""
        ep = Episode(handle=handle or secrets.token_urlsafe(12), sim=self._new_sim(), seed=0)
        self.reset(ep, task_id, seed, episode_id)  # raises KeyError before registering a bad task
        with self._lock:
            if handle is not None and handle in self._episodes:  # created meanwhile by another request
                return self._episodes[handle]
            self._expire_locked()
            if len(self._episodes) >= self.max_episodes:
                raise RegistryFull(
                    f"{len(self._episodes)} MCP episodes are live, the limit (GHOSTEXEC_MAX_EPISODES / --max-episodes); "
                    f"none is evicted to make room. Episodes at a URL expire after {self.idle_ttl_s:g} s unused and a "
                    "session's episode ends with its session (DELETE it): retry later"
                )
            self._episodes[ep.handle] = ep
        return ep

    def get(self, handle: str) -> Episode | None:
        with self._lock:
            ep = self._episodes.get(handle)
        if ep is not None:
            ep.touch()
        return ep

    def drop(self, handle: str) -> None:
        with self._lock:
            ep = self._episodes.pop(handle, None)
        if ep is not None:
            ep.listen.close()

    def __len__(self) -> int:
        return len(self._episodes)

    def _expire_locked(self) -> None:
        now = time.monotonic()
        # Session-bound episodes live exactly as long as their session (dropped when it closes or
        # idles out in the SDK), so the idle TTL applies to URL-addressed episodes only.
        stale = [
            h
            for h, e in self._episodes.items()
            if e is not self.fixed and not e.session_bound and now - e.last_used > self.idle_ttl_s
        ]
        for h in stale:
            self._episodes.pop(h).listen.close()


@dataclass
class Binding:
    """What one MCP request is bound to; see the module docstring."""

    registry: EpisodeRegistry
    handle: str | None = None  # from an episode URL
    connection: Any = None  # SDK Connection of a handshake-era session (persists across requests)
    base_url: str | None = None  # external URL of the standard endpoint (HTTP only)

    @property
    def kind(self) -> str:
        if self.registry.fixed is not None:
            return "process"
        if self.handle is not None:
            return "url"
        if self.connection is not None:
            return "session"
        return "lobby"

    def episode(self, *, create: bool = True) -> Episode:
        reg = self.registry
        if reg.fixed is not None:
            return reg.fixed
        if self.handle is not None:
            ep = reg.get(self.handle)
            if ep is None:
                raise NoEpisode(f"episode {self.handle!r} does not exist (expired or never created); call start_episode")
            return ep
        if self.connection is not None:
            handle = self.connection.state.get(SESSION_KEY)
            ep = reg.get(handle) if handle else None
            if ep is None:
                if not create:
                    raise NoEpisode("this session has no episode yet")
                ep = self.bind_new(reg.create())
            return ep
        where = f"{self.base_url.rstrip('/')}/episodes/NAME/" if self.base_url else ".../episodes/NAME/"
        raise NoEpisode(
            "no episode here: 2026-07-28 (stateless) clients address an episode by URL. Connect to "
            f"{where} (any name of letters, digits, '_', '.', '-'; created on first use, ?task=...&seed=... "
            "to choose the scenario), or call start_episode (task_id, seed) and continue at the 'url' it returns."
        )

    def bind_new(self, ep: Episode) -> Episode:
        """Bind a fresh episode to this session; it is dropped when the session closes."""
        conn = self.connection
        old = conn.state.get(SESSION_KEY)
        if old and old != ep.handle:
            self.registry.drop(old)
        conn.state[SESSION_KEY] = ep.handle
        ep.session_bound = True
        with contextlib.suppress(Exception):  # teardown hook is best effort; idle expiry still applies
            conn.exit_stack.callback(self.registry.drop, ep.handle)
        return ep

    def url_for(self, handle: str) -> str | None:
        return f"{self.base_url.rstrip('/')}/episodes/{handle}/" if self.base_url else None


_CURRENT: contextvars.ContextVar[Binding | None] = contextvars.ContextVar("ghostexec_mcp_binding", default=None)


def current() -> Binding:
    b = _CURRENT.get()
    if b is None:  # outside a request (direct calls in tests): no binding
        raise NoEpisode("no MCP request context")
    return b


def set_current(b: Binding) -> contextvars.Token[Binding | None]:
    return _CURRENT.set(b)


def reset_current(token: contextvars.Token[Binding | None]) -> None:
    _CURRENT.reset(token)
