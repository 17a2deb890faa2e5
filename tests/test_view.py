"""ghostexec.view: the office picture and the valid choices the web page offers.

The promise tested here: every id (and id pair, and slot) `action_options` offers is accepted by
the simulation when stepped, and every id it leaves out is refused, so the page's forms can only
produce valid actions. Plus: the view shows visible facts only and follows the episode.
"""

from __future__ import annotations

import copy
import json

import pytest

from ghostexec import Simulation, available_tasks
from ghostexec.events import NewEmail
from ghostexec.trajectory import observation_hash
from ghostexec.view import action_options, office_view, task_catalogue


def _fork(sim: Simulation) -> Simulation:
    """An independent copy of a live episode (caches and the immutable scenario are shared)."""
    w = sim.world
    return copy.deepcopy(sim, {id(w.line_cache): {}, id(w.scenario): w.scenario})


def _offered_actions(opts: dict) -> list[dict]:
    out: list[dict] = []
    out += [{"action_type": "reply_email", "email_id": o["id"], "body": "Thank you, noted."} for o in opts["reply_email"]]
    out += [{"action_type": "archive_email", "email_id": o["id"]} for o in opts["archive_email"]]
    for m in opts["reschedule_meeting"]:
        out += [{"action_type": "reschedule_meeting", "meeting_id": m["id"], "new_start": s} for s in m["slots"]]
    out += [{"action_type": "cancel_meeting", "meeting_id": o["id"]} for o in opts["cancel_meeting"]]
    out += [{"action_type": "complete_task", "task_id": o["id"]} for o in opts["complete_task"]]
    for t in opts["delegate_task"]:
        out += [{"action_type": "delegate_task", "task_id": t["id"], "contact_id": c["id"]} for c in t["contacts"]]
    for c in opts["send_message"]:
        out += [
            {"action_type": "send_message", "contact_id": c["id"], "channel": ch, "body": "Quick update."}
            for ch in opts["channels"]
        ]
    out.append({"action_type": "do_nothing"})
    return out


def _advance(sim: Simulation, n: int) -> None:
    """Move the episode on with varied valid actions, so checkpoints see a changed world."""
    order = ("reply_email", "complete_task", "reschedule_meeting", "delegate_task", "archive_email", "cancel_meeting")
    for i in range(n):
        opts = action_options(sim)
        kinds = [k for k in order if opts[k]]
        if not kinds:
            sim.step({"action_type": "do_nothing"})
            continue
        kind = kinds[i % len(kinds)]
        acts = [a for a in _offered_actions(opts) if a["action_type"] == kind]
        res = sim.step(acts[i % len(acts)])
        assert res.observation.step_ok, res.observation.error


@pytest.mark.parametrize("task_id", available_tasks())
def test_every_offered_choice_is_a_valid_step(task_id):
    sim = Simulation()
    sim.reset(task_id=task_id, seed=3)
    checked = 0
    for advance_by in (0, 7):
        _advance(sim, advance_by)
        opts = action_options(sim)
        assert opts["do_nothing"] is True and not opts["done"]
        for action in _offered_actions(opts):
            res = _fork(sim).step(action)
            assert not res.info["rejected"], (action, res.observation.error)
            assert res.observation.step_ok, (action, res.observation.error)
            checked += 1
    assert checked > 60  # the forms really offer choices on every task


@pytest.mark.parametrize("task_id", ["phase2_core", "board_prep_crunch"])
def test_every_id_left_out_is_refused(task_id):
    sim = Simulation()
    sim.reset(task_id=task_id, seed=1)
    _advance(sim, 6)
    w = sim.world
    opts = action_options(sim)
    offered = {
        kind: {o["id"] for o in opts[kind]}
        for kind in opts
        if isinstance(opts[kind], list) and kind not in ("channels", "action_types")
    }
    probes = []
    for eid in w.emails:  # includes mail that has not arrived yet
        probes.append(("reply_email", eid, {"action_type": "reply_email", "email_id": eid, "body": "Thanks."}))
        probes.append(("archive_email", eid, {"action_type": "archive_email", "email_id": eid}))
    for mid in [*w.meetings, *w.commitments]:
        probes.append(("cancel_meeting", mid, {"action_type": "cancel_meeting", "meeting_id": mid}))
    for tid in w.tasks:
        probes.append(("complete_task", tid, {"action_type": "complete_task", "task_id": tid}))
    refused = 0
    for kind, ident, action in probes:
        ok = _fork(sim).step(action).observation.step_ok
        assert ok == (ident in offered[kind]), (kind, ident, ok)
        refused += not ok
    assert refused > 0  # the probe set really contains ids the forms must not offer
    for tid in w.tasks:  # delegation pairs: offered exactly when the core accepts them
        pairs = {c["id"] for t in opts["delegate_task"] if t["id"] == tid for c in t["contacts"]}
        for cid in w.contacts:
            ok = _fork(sim).step({"action_type": "delegate_task", "task_id": tid, "contact_id": cid}).observation.step_ok
            assert ok == (cid in pairs), (tid, cid, ok)


def test_view_follows_the_episode_and_matches_the_core():
    sim = Simulation()
    sim.reset(task_id="phase2_core", seed=0)
    first = office_view(sim)
    assert first["step"] == 0 and first["steps"] == [] and first["last_changes"] == []
    assert first["stress_history"] == [{"step": 0, "stress": sim.world.executive.stress}]
    assert first["briefing"] == sim.observation.briefing
    conflict_items = {i for c in sim.world.conflicts if c.kind != "critical_unanswered" for i in c.items}
    flagged = {i["id"] for i in first["calendar"]["items"] if i["conflicts"]}
    assert conflict_items and flagged == conflict_items  # phase2_core starts with double bookings
    actions = [
        {"action_type": "reply_email", "email_id": "e01", "body": "Dear Margaret, I confirm answers by Thursday 3pm."},
        {"action_type": "complete_task", "task_id": "nope"},  # invalid: still a step, shown as such
        {"action_type": "do_nothing"},
    ]
    results = [sim.step(a) for a in actions]
    view = office_view(sim)
    json.dumps(view)  # JSON-able as served
    assert view["step"] == 3 and len(view["steps"]) == 3 and len(view["stress_history"]) == 4
    assert [s["reward"] for s in view["steps"]] == [r.reward for r in results]
    assert view["steps"][1]["error"] and view["steps"][1]["components"]["invalid_penalty"] < 0
    assert view["steps"][0]["changes"] and view["steps"][0]["expectations"]
    assert view["last_changes"] == results[-1].info["changes"]
    assert view["stress_history"][-1]["stress"] == sim.world.executive.stress == view["stress"]
    assert view["observation_hash"] == observation_hash(sim.observation)
    assert view["state_hash"] == sim.state_hash()
    assert view["briefing"] != first["briefing"]
    e01 = next(e for e in view["inbox"] if e["id"] == "e01")
    assert e01["replied"]
    assert "e01" not in {o["id"] for o in view["options"]["reply_email"]}


def test_view_shows_visible_facts_only():
    sim = Simulation()
    sim.reset(task_id="phase2_core", seed=0)
    later_mail = {ev.email.id for ev in sim.world.scenario.events if isinstance(ev, NewEmail)}
    assert later_mail, "phase2_core has mail arriving by event"
    text = json.dumps(office_view(sim))
    for hidden in ("reliability", "mood_jitter", "goodwill_owed", '"terms"'):
        assert hidden not in text
    shown = {e["id"] for e in office_view(sim)["inbox"]}
    assert not shown & later_mail
    offered = {o["id"] for o in action_options(sim)["reply_email"]}
    assert not offered & later_mail


def test_nothing_is_offered_once_the_episode_is_over():
    sim = Simulation()
    sim.reset(task_id="dinner_disaster", seed=0)
    while not sim.done:
        sim.step({"action_type": "do_nothing"})
    opts = action_options(sim)
    assert opts["done"] and opts["action_types"] == [] and opts["do_nothing"] is False
    assert all(opts[k] == [] for k in ("reply_email", "archive_email", "reschedule_meeting", "delegate_task", "send_message"))


def test_task_catalogue_lists_the_shipped_tasks():
    cat = task_catalogue()
    assert [t["id"] for t in cat] == available_tasks()
    assert sum(t["default"] for t in cat) == 1
    assert all(t["step_budget"] > 0 and t["title"] for t in cat)
