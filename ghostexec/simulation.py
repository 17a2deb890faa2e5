"""`Simulation`: the one entry point every transport drives.

    sim = Simulation()
    obs = sim.reset(task_id="phase2_core", seed=0)
    res = sim.step({"action_type": "reply_email", "email_id": "e01", "body": "..."})

One step, in order:
 1. the action is checked against the live world and, if valid, applied (an invalid action changes
    nothing but still costs the step: time passes and a penalty is paid);
 2. the clock advances one step: delegation reports, meetings attended or missed, deadlines
    passing, moods wearing down under waiting mail;
 3. conflicts and stress are rebuilt, and the reward is the change in potentials (ghostexec.reward);
 4. the scenario's own events due by now fire (seen in the next briefing, not charged to the agent);
 5. the briefing is rendered.
`step()` never raises: a malformed action is rejected (no step taken) with a precise error.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from .actions import ActionShapeError, ReplyEmail, parse_action
from .agent import perform
from .briefing import render
from .dynamics import advance, fire_timeline
from .graders import Grade, grade_world
from .pressure import refresh
from .results import Observation, RewardBreakdown, StepResult, build
from .reward import breakdown, neglect_reasons, potentials
from .scenario import Scenario, load_task, parse_scenario
from .state import World, WorldState, snapshot, state_hash

DEFAULT_TASK = "phase2_core"
HIDDEN_CONTACT_FIELDS = ("reliability", "mood_jitter", "goodwill_owed")
ENTITY_KINDS = ("email", "meeting", "contact", "task")


def action_fields(action) -> dict[str, Any]:
    """The action as a plain dict without unset optional fields (what trajectories record)."""
    return {k: v for k, v in action.__dict__.items() if v is not None}


_NAMED = ("email_id", "meeting_id", "task_id", "contact_id", "new_start", "new_end", "channel")
_QUOTED = ("body", "reason", "note")


@cache
def _described_keys(action_cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The keys `describe` shows for one action model, in display order: a step only looks at
    the fields its action can have."""
    fields = getattr(action_cls, "model_fields", None)
    if fields is None:  # not an action model: look for every key
        return _NAMED, _QUOTED
    return tuple(k for k in _NAMED if k in fields), tuple(k for k in _QUOTED if k in fields)


def describe(action, fields: dict[str, Any] | None = None) -> str:
    """One line naming the action and its target, for the briefing and logs."""
    fields = action_fields(action) if fields is None else fields
    named, quoted = _described_keys(type(action))
    parts = [action.action_type]
    for key in named:
        if key in fields:
            parts.append(f"{key}={fields[key]}")
    for key in quoted:
        if fields.get(key):
            text = " ".join(str(fields[key]).split())
            parts.append(f'{key}="{text[:50]}{"..." if len(text) > 50 else ""}"')
    return " ".join(parts)


class Simulation:
    """One episode at a time of one scenario. Not thread-safe; use one instance per session."""

    def __init__(self) -> None:
        self._w: World | None = None
        self._baseline = None
        self.observation: Observation | None = None
        self.history: list[dict[str, Any]] = []
        self.rejected = 0  # inputs refused before a step in this episode (not part of the world)
        self.start_stress = 0  # stress right after reset (history holds the level after each step)

    # --- lifecycle ------------------------------------------------------------------------
    def reset(
        self,
        task_id: str | None = None,
        seed: int | None = None,
        episode_id: str | None = None,
        scenario: Scenario | dict | None = None,
    ) -> Observation:
        """Start an episode of a shipped task (or of a custom scenario, validated). Raises KeyError
        for an unknown task_id and ScenarioError for an invalid scenario; the previous episode, if
        any, is untouched on error."""
        if scenario is not None:
            sc = scenario if isinstance(scenario, Scenario) else parse_scenario(scenario, "scenario")
        else:
            sc = load_task(task_id or DEFAULT_TASK)
        seed = 0 if seed is None else int(seed)
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        w = World(sc, seed, episode_id or f"{sc.id}:{seed}")
        refresh(w)
        self._w = w
        self._baseline = potentials(w)
        self.history = []
        self.rejected = 0
        self.start_stress = w.executive.stress
        self.observation = self._observe(None, None, None)
        return self.observation

    def step(self, action: Any) -> StepResult:
        w = self._w
        if w is None:
            return self._refuse("no episode is running; call reset(task_id=..., seed=...) first", rejected=True)
        try:
            act = parse_action(action)
        except ActionShapeError as exc:
            self.rejected += 1
            return self._refuse(str(exc), rejected=True, errors=exc.errors)
        if w.done:
            return self._refuse("the episode is over (step budget used); call reset() to start another", rejected=True)

        before = self._baseline
        idle = neglect_reasons(w, act)
        mark = len(w.log)
        w.arrived = []
        error, reading = perform(w, act)
        if error:
            w.counters["invalid"] += 1
        elif idle:
            w.counters["idle_urgent"] += 1
        w.last_error = error
        w.step += 1
        fired_mark = len(w.fired)
        advance(w)
        refresh(w)
        after = potentials(w)
        bd = breakdown(
            before,
            after,
            invalid=error is not None,
            idle_reasons=idle,
            reading=reading,
            email_id=act.email_id if isinstance(act, ReplyEmail) else None,
            error=error,
        )
        self._baseline = after
        if fire_timeline(w):
            refresh(w)
            self._baseline = potentials(w)
        # Mail shown in the previous briefing has now been read; what arrived this step is new.
        if w.unread:
            fresh = set(w.arrived)
            for e in w.unread:
                if e.id not in fresh:
                    e.read = True
            w.unread = [e for e in w.unread if not e.read]
        w.last_step_changes = w.log[mark:]
        w.last_step_lines = [c.render() for c in w.last_step_changes]
        fields = action_fields(act)
        desc = describe(act, fields)
        obs = self.observation = self._observe(desc, bd, error)
        info: dict[str, Any] = {
            "rejected": False,
            "action": fields,
            "changes": w.last_step_lines,
            "events": w.fired[fired_mark:],
        }
        if w.done:
            info["grade"] = self.grade().model_dump()
        self.history.append(
            {
                "step": w.step,
                "action": info["action"],
                "reward": bd.total,
                "error": error,
                "breakdown": bd,
                "stress": w.executive.stress,
                "time": obs.time,
                "changes": w.last_step_lines,
            }
        )
        return build(StepResult, observation=obs, reward=bd.total, breakdown=bd, done=w.done, info=info)

    # --- views ----------------------------------------------------------------------------
    def _observe(self, desc: str | None, bd: RewardBreakdown | None, error: str | None) -> Observation:
        w = self._w
        # Every value below is built by the core with the right type: skip re-validation (the
        # step's hot path; tests/test_core_results.py re-validates what this builds).
        return build(
            Observation,
            task_id=w.scenario.id,
            episode_id=w.episode_id,
            briefing=self._briefing(desc),
            step=w.step,
            steps_remaining=w.steps_remaining,
            time=w.clock.isoformat(),
            stress=w.executive.stress,
            step_ok=error is None,
            error=error,
            reward=bd.total if bd else 0.0,
            breakdown=bd,
            done=w.done,
        )

    def _briefing(self, desc: str | None) -> str:
        """The briefing text for the observation being built (a subclass may defer it)."""
        return render(self._w, last_action=desc)

    def _refuse(self, message: str, *, rejected: bool, errors: list | None = None) -> StepResult:
        """A result for input that takes no step: the world is untouched, no time passes."""
        base = self.observation
        if base is None:
            obs = Observation(
                task_id="",
                episode_id="",
                briefing="No episode is running. Call reset() to start one.",
                step=0,
                steps_remaining=0,
                time="",
                stress=0,
                step_ok=False,
                error=message,
            )
        else:
            obs = base.model_copy(update={"step_ok": False, "error": message, "reward": 0.0, "breakdown": None})
        info: dict[str, Any] = {"rejected": rejected, "changes": [], "events": []}
        if errors:
            info["errors"] = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in errors]
        return StepResult(observation=obs, reward=0.0, breakdown=None, done=obs.done, info=info)

    @property
    def world(self) -> World:
        if self._w is None:
            raise RuntimeError("no episode is running; call reset() first")
        return self._w

    @property
    def done(self) -> bool:
        return self._w is not None and self._w.done

    @property
    def task_id(self) -> str | None:
        return self._w.scenario.id if self._w else None

    @property
    def episode_id(self) -> str | None:
        return self._w.episode_id if self._w else None

    def state(self) -> WorldState:
        """The whole world, including what graders use (reply expectations, reliability)."""
        return snapshot(self.world)

    def public_state(self) -> dict[str, Any]:
        """The world as an agent may see it: `state()` minus the answer key (each email's
        expectations, delegates' reliability, start-mood jitter and the goodwill ledger that
        decides whether a message will land). Serve this wherever an agent can read state."""
        data = self.state().model_dump(mode="json")
        for e in data["emails"]:
            e.pop("expectations", None)
        for c in data["contacts"]:
            for key in HIDDEN_CONTACT_FIELDS:
                c.pop(key, None)
        return data

    def state_hash(self) -> str:
        return state_hash(self.world)

    def grade(self) -> Grade:
        """The episode's grade for the world as it stands. Cached until the world moves (a step
        or a reset): the last step and the transports' final observation all ask for it, and
        grading walks the whole world. The instance is shared between those callers: read it,
        do not mutate it."""
        w = self.world
        key = (w.step, len(w.log))
        hit = w.section_cache.get("grade")
        if hit is not None and hit[0] == key:
            return hit[1]
        g = grade_world(w)
        w.section_cache["grade"] = (key, g)
        return g

    def entity(self, kind: str, entity_id: str) -> dict[str, Any]:
        """One email, meeting, contact or task as an agent may see it (the public view, see
        `public_state`); emails that have not arrived yet do not exist."""
        w = self.world
        table = {
            "email": {e.id: e for e in w.visible_emails()},
            "meeting": {**w.meetings, **w.commitments},
            "contact": w.contacts,
            "task": w.tasks,
        }.get(kind)
        if table is None:
            raise KeyError(f"unknown kind '{kind}'; kinds: {', '.join(ENTITY_KINDS)}")
        item = table.get(entity_id)
        if item is None:
            ids = ", ".join(sorted(table)[:30])
            raise KeyError(f"no {kind} '{entity_id}'; known {kind} ids: {ids}")
        exclude = {"expectations"} if kind == "email" else set(HIDDEN_CONTACT_FIELDS) if kind == "contact" else None
        return item.to_model().model_dump(mode="json", exclude=exclude)
