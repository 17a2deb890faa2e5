"""The Ghostexec MCP server: a thin adapter from MCP to `ghostexec.Simulation`.

No office logic lives here. Each action tool hands its arguments, as the action dict, to
`sim.step` (which checks the shape with the core's own models and refuses malformed input without a
step) and maps the `StepResult` onto the tool result; resources are views of the episode's latest
observation, `sim.entity`, `sim.history`, `sim.grade` and `sim.state_hash`. Input schemas are the
core's (`ghostexec.actions.tool_input_schema`).

    from mcp_server.episodes import EpisodeRegistry
    from mcp_server.server import build_server
    mcp = build_server(EpisodeRegistry.single("phase2_core", seed=0))   # stdio / in-memory
    mcp = build_server(EpisodeRegistry())                               # HTTP (see mcp_server.http)

See docs/mcp.md for the design choices (hidden reward, no look-up tools, episode isolation).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.shared.exceptions import MCPError
from mcp.shared.subscriptions import ResourceUpdated
from mcp_types import (
    INVALID_PARAMS,
    Annotations,
    CallToolResult,
    Completion,
    EmbeddedResource,
    EmptyResult,
    PromptReference,
    SubscribeRequestParams,
    SubscriptionsListenRequestParams,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
    UnsubscribeRequestParams,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ConfigDict, Field

import ghostexec
from ghostexec.actions import ACTION_MODELS, tool_input_schema

from .episodes import BASE_URL_KEY, SCOPE_KEY, Binding, Episode, EpisodeRegistry, NoEpisode, current, reset_current, set_current

log = logging.getLogger("ghostexec.mcp")

SERVER_NAME = "ghostexec"
BRIEFING_URI = "ghostexec://briefing"
CONTROL_URI = "ghostexec://control"
ENTITY_KINDS = ("email", "meeting", "contact", "task")
ENTITY_PREFIX = "ghostexec://"

INSTRUCTIONS = """\
Ghostexec: you are the chief of staff of a busy executive during a simulated workday.
Read the resource ghostexec://briefing (the whole situation: inbox, calendar, tasks, contacts,
moods, time). Each action tool (reply_email, archive_email, reschedule_meeting, cancel_meeting,
complete_task, delegate_task, send_message, do_nothing) takes one step of simulated time and
returns what changed plus the updated briefing. Invalid actions still cost a step. The episode
ends when the step budget runs out. Details of one item: ghostexec://email/{id},
ghostexec://meeting/{id}, ghostexec://contact/{id}, ghostexec://task/{id}. Start over with
start_episode."""

RESULT_NOTE = (
    "\n\nReturns: ok (the action took effect), error (why not; an invalid action still costs the step), "
    "changes (what happened, including events that fired), step, steps_remaining, time, done, "
    "and the updated briefing as an embedded resource."
)


RESULT_NOTE_NO_BRIEFING = RESULT_NOTE.replace(
    ", and the updated briefing as an embedded resource.", ". Read ghostexec://briefing for the updated situation."
)


class ActionOutcome(BaseModel):
    """Structured result of one action tool. The reward is deliberately absent (see docs/mcp.md)."""

    ok: bool = Field(description="True if the action took effect; false if it was invalid (the step was still spent).")
    error: str | None = Field(default=None, description="Why the action was invalid, precisely; null when ok.")
    changes: list[str] = Field(description="What this step changed, including events that fired.")
    step: int = Field(description="Steps taken so far in this episode.")
    steps_remaining: int
    time: str = Field(description="Simulated time after the step (ISO 8601).")
    done: bool = Field(description="True when the episode is over; further actions are refused.")


ACTION_OUTCOME_SCHEMA = FuncMetadata(arg_model=ArgModelBase, output_model=ActionOutcome).output_schema


class EpisodeInfo(BaseModel):
    """Result of start_episode."""

    episode: str | None = Field(description="Episode handle (HTTP); null on stdio, where the process is the episode.")
    url: str | None = Field(description="Streamable HTTP URL addressing this episode (use it from stateless clients).")
    task_id: str
    seed: int
    episode_id: str
    title: str
    steps_remaining: int
    time: str


class _RawArguments(ArgModelBase):
    """Accepts any JSON object and hands it over untouched: the core's model is the only validator,
    so a shape error reads exactly like it does on every other transport."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _unwrap(doc: str) -> str:
    """A docstring as an LLM reads best: paragraphs on one line each."""
    paragraphs = inspect.cleandoc(doc).split("\n\n")
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _briefing_block(ep: Episode) -> EmbeddedResource:
    return EmbeddedResource(
        type="resource",
        resource=TextResourceContents(uri=BRIEFING_URI, mime_type="text/plain", text=ep.obs.briefing),
    )


# ----------------------------------------------------------------------------------- notifications


async def _notify_changed(ep: Episode, everything: bool = False) -> None:
    """Tell both eras' subscribers of this episode which resources changed.

    2026-07-28: events on the episode's own bus reach its `subscriptions/listen` streams.
    Handshake era: `notifications/resources/updated` on each subscribed session's standalone
    channel (sessions that `resources/subscribe`d to the URI)."""
    subscribed = ep.subscribed_uris()
    if not subscribed:
        return
    changed = {BRIEFING_URI, CONTROL_URI} & subscribed
    for uri in subscribed - {BRIEFING_URI, CONTROL_URI}:
        text = _read_entity_uri(ep, uri)
        if everything or ep.entity_cache.get(uri) != text:
            ep.entity_cache[uri] = text
            changed.add(uri)
    for uri in sorted(changed):
        if ep.listen_uris.get(uri):
            await ep.bus.publish(ResourceUpdated(uri=uri))
        for key, (send, uris) in list(ep.legacy_subs.items()):
            if uri in uris:
                try:
                    await send(uri)
                except Exception:  # session gone: forget it
                    log.debug("dropping dead legacy subscriber %s", key)
                    ep.legacy_subs.pop(key, None)


def _read_entity_uri(ep: Episode, uri: str) -> str:
    rest = uri[len(ENTITY_PREFIX) :] if uri.startswith(ENTITY_PREFIX) else ""
    kind, _, ident = rest.partition("/")
    if kind not in ENTITY_KINDS or not ident:
        return ""
    try:
        with ep.lock:
            return json.dumps(_jsonable(ep.sim.entity(kind, ident)), sort_keys=True)
    except KeyError as exc:
        return f"<gone: {exc}>"


# --------------------------------------------------------------------------------------- tools


def _action_tool(model: type[BaseModel], briefing_in_result: bool = True) -> Tool:
    action_type: str = model.model_fields["action_type"].default

    async def run_action(arguments: dict[str, Any], ctx: Any = None) -> CallToolResult:
        binding = current()
        try:
            ep = binding.episode()
        except NoEpisode as exc:
            raise ToolError(str(exc)) from None
        if "action_type" in arguments:
            raise ToolError(f"{action_type}: action_type: not an argument here (the tool name is the action type)")
        # The core validates the shape itself (parse_action) and refuses a malformed action without
        # taking a step; forwarding the raw arguments keeps its message and its bookkeeping identical
        # to the in-process path.
        action = {**arguments, "action_type": action_type}
        if binding.kind == "process":  # stdio: one client, nothing to keep the loop free for
            result = ep.step(action)
        else:  # HTTP: on a worker thread, like a sync tool. Measurably faster on the handshake-era
            # path than an async handler that completes without yielding; keeps the loop free.
            result = await anyio.to_thread.run_sync(ep.step, action)
        obs = result.observation
        if result.info.get("rejected"):  # shape error, or the episode is already over: no step taken
            raise ToolError(obs.error or "action rejected")
        outcome = ActionOutcome(
            ok=bool(obs.step_ok),
            error=obs.error,
            changes=[str(c) for c in result.info.get("changes", [])],
            step=obs.step,
            steps_remaining=obs.steps_remaining,
            time=str(obs.time),
            done=bool(result.done),
        )
        data = outcome.model_dump(mode="json")
        content: list[Any] = []
        if not outcome.ok:  # the precise message first, where every client shows it
            content.append(TextContent(type="text", text=f"Invalid {action_type}: {obs.error}"))
        content.append(TextContent(type="text", text=outcome.model_dump_json(indent=2)))  # Rust: ~30x json.dumps
        if briefing_in_result:
            content.append(_briefing_block(ep))
        await _notify_changed(ep)
        return CallToolResult(content=content, structured_content=data, is_error=not outcome.ok)

    description = _unwrap(model.__doc__ or "") + (RESULT_NOTE if briefing_in_result else RESULT_NOTE_NO_BRIEFING)
    return Tool(
        fn=run_action,
        name=action_type,
        title=model.title,
        description=description,
        parameters=tool_input_schema(model),
        # outputSchema advertised from ActionOutcome; results are built from that model, so the SDK's
        # per-call re-validation of structured content (output_model) is skipped.
        fn_metadata=FuncMetadata(arg_model=_RawArguments, output_schema=ACTION_OUTCOME_SCHEMA),
        is_async=True,
        context_kwarg="ctx",
        annotations=ToolAnnotations(
            title=model.title,
            read_only_hint=False,
            destructive_hint=bool(model.destructive),
            idempotent_hint=bool(model.idempotent),
            open_world_hint=False,
        ),
    )


def _start_episode_tool(registry: EpisodeRegistry) -> Tool:
    async def start_episode(
        task_id: Annotated[str | None, Field(description="Scenario id; default: the server's default scenario.")] = None,
        seed: Annotated[int, Field(ge=0, description="Makes the day reproducible.")] = 0,
        episode_id: Annotated[str | None, Field(max_length=255, description="Optional id to record.")] = None,
    ) -> CallToolResult:
        """Start a new simulated workday, replacing the current one (its progress is discarded).

        On stdio and on an episode URL the episode is restarted in place; in a handshake-era HTTP
        session it is the session's episode; a stateless (2026-07-28) client at the lobby URL gets
        a new episode and must continue at the returned url. Does not advance time. Returns the
        episode's handle and url, and its opening briefing."""
        binding = current()
        try:
            if binding.kind == "lobby":
                ep = registry.create(task_id, seed, episode_id)
            else:
                try:
                    ep = binding.episode(create=False)
                    registry.reset(ep, task_id, seed, episode_id)
                except NoEpisode:
                    if binding.kind != "session":
                        raise
                    ep = binding.bind_new(registry.create(task_id, seed, episode_id))
        except KeyError as exc:
            raise ToolError(str(exc.args[0] if exc.args else exc)) from None
        except (NoEpisode, ValueError) as exc:  # ValueError: e.g. a scenario the core refuses
            raise ToolError(str(exc)) from None
        sim, obs = ep.sim, ep.obs
        try:
            title = ghostexec.load_task(sim.task_id).title
        except Exception:  # custom scenario objects
            title = sim.task_id
        info = EpisodeInfo(
            episode=None if binding.kind == "process" else ep.handle,
            url=binding.url_for(ep.handle) if binding.kind != "process" else None,
            task_id=sim.task_id,
            seed=ep.seed,
            episode_id=sim.episode_id,
            title=title,
            steps_remaining=obs.steps_remaining,
            time=str(obs.time),
        )
        data = info.model_dump(mode="json")
        await _notify_changed(ep, everything=True)
        return CallToolResult(
            content=[TextContent(type="text", text=info.model_dump_json(indent=2)), _briefing_block(ep)],
            structured_content=data,
        )

    tasks = ", ".join(ghostexec.available_tasks())
    tool = Tool.from_function(
        start_episode,
        title="Start a new episode",
        description=_unwrap(start_episode.__doc__ or "") + f"\n\nScenarios (task_id): {tasks}.",
        annotations=ToolAnnotations(
            title="Start a new episode",
            read_only_hint=False,
            destructive_hint=True,  # discards the current episode
            idempotent_hint=False,
            open_world_hint=False,
        ),
    )
    # Structured output described by EpisodeInfo (the function returns a ready CallToolResult).
    return tool.model_copy(update={"fn_metadata": FuncMetadata(arg_model=tool.fn_metadata.arg_model, output_model=EpisodeInfo)})


# ----------------------------------------------------------------------------------- the server


def build_server(
    registry: EpisodeRegistry,
    *,
    restart_tool: bool = True,
    control_resource: bool = True,
    briefing_in_result: bool = True,
) -> MCPServer:
    """An MCPServer over `registry`. One server serves every episode; each request is bound to its
    episode by the middleware below (fixed episode, episode URL, or handshake-era session).

    restart_tool: offer start_episode (hide it for strict evaluations where the harness restarts).
    control_resource: offer ghostexec://control (reward, breakdown, grade) for the harness.
    briefing_in_result: attach the updated briefing to every action result (what an LLM host needs
    to see the new situation without a separate resource read; ~8 KB per call)."""
    tools = [_action_tool(m, briefing_in_result) for m in ACTION_MODELS]
    if restart_tool:
        tools.append(_start_episode_tool(registry))
    mcp = MCPServer(
        SERVER_NAME,
        title="Ghostexec",
        description="A simulated workday for an executive's AI chief of staff.",
        version=getattr(ghostexec, "__version__", "0"),
        instructions=INSTRUCTIONS,
        tools=tools,
        subscriptions=False,  # we serve subscriptions/listen ourselves, per episode (below)
        log_level="WARNING",
    )

    # ---- bind every request to its episode
    async def bind_episode(ctx: Any, call_next: Any) -> Any:
        request = ctx.request
        state = request.scope.get("state", {}) if request is not None else {}
        connection = None
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            connection = getattr(ctx.session, "_connection", None)  # persists for the whole session
        binding = Binding(
            registry=registry,
            handle=state.get(SCOPE_KEY),
            connection=connection,
            base_url=state.get(BASE_URL_KEY),
        )
        if ctx.method == "tools/call" and isinstance(ctx.params, dict):
            name = ctx.params.get("name")
            if isinstance(name, str) and mcp._tool_manager.get_tool(name) is None:
                # Spec: an unknown tool is a protocol error (-32602), not an isError result.
                raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {name}", data={"tool": name})
        token = set_current(binding)
        try:
            return await call_next(ctx)
        finally:
            reset_current(token)

    mcp.middleware.append(bind_episode)

    def episode_or_not_found(uri: str) -> Episode:
        try:
            return current().episode()
        except NoEpisode as exc:
            raise ResourceNotFoundError(f"{uri}: {exc}") from None

    def episode_or_lobby() -> Episode | str:
        """The bound episode, or (a stateless client at the lobby URL) the explanation of how to get one."""
        try:
            return current().episode()
        except NoEpisode as exc:
            return str(exc)

    # ---- resources
    @mcp.resource(
        BRIEFING_URI,
        name="briefing",
        title="Briefing",
        description="The whole current situation as plain text: exactly the OpenEnv observation text.",
        mime_type="text/plain",
        annotations=Annotations(audience=["assistant", "user"], priority=1.0),
    )
    async def briefing() -> str:
        ep = episode_or_lobby()
        return ep if isinstance(ep, str) else ep.obs.briefing

    if control_resource:

        @mcp.resource(
            CONTROL_URI,
            name="control",
            title="Control (for the harness)",
            description=(
                "For the evaluation harness, not the agent: reward history, last reward breakdown, "
                "current grade, state hash. Hosts should not show it to the model."
            ),
            mime_type="application/json",
            annotations=Annotations(audience=["user"], priority=0.0),
        )
        async def control() -> str:
            ep = episode_or_lobby()
            if isinstance(ep, str):
                return json.dumps({"episode": None, "message": ep}, indent=2)
            with ep.lock:
                return _control_document(ep)

        def _control_document(ep: Episode) -> str:
            sim = ep.sim
            history = _jsonable(list(sim.history))
            rewards = [h.get("reward") if isinstance(h, dict) else None for h in history]
            last = history[-1] if history else None
            doc = {
                "episode": ep.handle,
                "task_id": sim.task_id,
                "seed": ep.seed,
                "episode_id": sim.episode_id,
                "step": ep.obs.step,
                "steps_remaining": ep.obs.steps_remaining,
                "done": bool(sim.done),
                "state_hash": sim.state_hash(),
                "total_reward": round(sum(r for r in rewards if isinstance(r, (int, float))), 10),
                "rewards": rewards,
                "last_breakdown": last.get("breakdown") if isinstance(last, dict) else None,
                "history": history,
                "grade": _jsonable(sim.grade()),
            }
            return json.dumps(doc, indent=2)

    def _entity_resource(kind: str) -> None:
        async def read(entity_id: str) -> str:
            ep = episode_or_not_found(f"{ENTITY_PREFIX}{kind}/{entity_id}")
            try:
                with ep.lock:
                    data = ep.sim.entity(kind, entity_id)
            except KeyError as exc:
                raise ResourceNotFoundError(str(exc.args[0] if exc.args else exc)) from None
            return json.dumps(_jsonable(data), indent=2)

        read.__name__ = kind
        mcp.resource(
            f"{ENTITY_PREFIX}{kind}/{{entity_id}}",
            name=kind,
            title=f"One {kind} by id",
            description=f"The {kind} with this id, as JSON (the same facts the briefing shows). Reading it does not advance time.",
            mime_type="application/json",
        )(read)

    for kind in ENTITY_KINDS:
        _entity_resource(kind)

    # ---- the chief-of-staff prompt
    @mcp.prompt(name="chief_of_staff", title="Act as the executive's chief of staff")
    def chief_of_staff(task_id: str) -> str:
        """System-style brief for an agent playing one Ghostexec scenario (task_id: the scenario id)."""
        try:
            sc = ghostexec.load_task(task_id)
        except KeyError as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc.args[0] if exc.args else exc)) from None
        return (
            f"You are the chief of staff of a busy executive. Scenario: {sc.title} ({task_id}, {sc.difficulty}).\n"
            f"{sc.description}\n\n"
            f"You have {sc.step_budget} steps. Every action tool spends one step of simulated time, even when the "
            "action turns out to be invalid, so read before you act. Start by reading ghostexec://briefing; after "
            "each action the updated briefing comes back with the result.\n"
            "Priorities: answer critical mail (VIPs first, in the right tone, never leak confidential material to "
            "outsiders); clear double-bookings by rescheduling rather than cancelling; finish or delegate tasks to "
            "people who fit and have capacity; keep key relationships warm. Do nothing only when nothing is urgent."
        )

    @mcp.completion()
    async def complete(ref: Any, argument: Any, context: Any) -> Completion | None:
        if isinstance(ref, PromptReference) and ref.name == "chief_of_staff" and argument.name == "task_id":
            values = [t for t in ghostexec.available_tasks() if t.startswith(argument.value or "")]
            return Completion(values=values[:100], total=len(values), has_more=len(values) > 100)
        return None

    # ---- subscriptions, both eras, per episode
    low = mcp._lowlevel_server

    lobby_listen = ListenHandler(InMemorySubscriptionBus())  # lobby streams: acknowledged, then quiet

    async def listen(ctx: Any, params: SubscriptionsListenRequestParams) -> Any:
        try:
            ep = current().episode()
        except NoEpisode:
            return await lobby_listen(ctx, params)
        uris = list(params.notifications.resource_subscriptions or ())
        ep.listen_uris.update(uris)
        try:
            return await ep.listen(ctx, params)
        finally:
            ep.listen_uris.subtract(uris)

    async def subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
        ep = current().episode()
        conn = getattr(ctx.session, "_connection", None)
        if conn is None:
            raise MCPError(code=INVALID_PARAMS, message="resources/subscribe needs a session")
        key = id(conn)
        if key not in ep.legacy_subs:
            ep.legacy_subs[key] = (conn.send_resource_updated, set())
            with contextlib.suppress(Exception):  # forget the subscriber when its session closes
                conn.exit_stack.callback(ep.legacy_subs.pop, key, None)
        uri = str(params.uri)
        ep.legacy_subs[key][1].add(uri)
        if uri not in (BRIEFING_URI, CONTROL_URI):
            ep.entity_cache[uri] = _read_entity_uri(ep, uri)
        return EmptyResult()

    async def unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
        ep = current().episode()
        conn = getattr(ctx.session, "_connection", None)
        entry = ep.legacy_subs.get(id(conn)) if conn is not None else None
        if entry is not None:
            entry[1].discard(str(params.uri))
        return EmptyResult()

    low.add_request_handler("subscriptions/listen", SubscriptionsListenRequestParams, listen)
    low.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    return mcp


__all__ = ["BRIEFING_URI", "CONTROL_URI", "ActionOutcome", "EpisodeInfo", "build_server"]
