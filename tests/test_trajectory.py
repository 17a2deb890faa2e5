"""Trajectories: what is recorded replays exactly, and any edit is caught at the step it touches."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ghostexec.evaluation import play_episode
from ghostexec.policies import POLICIES
from ghostexec.scenario import SCENARIO_DIR
from ghostexec.trajectory import FORMAT, TrajectoryError, read, replay, write


def sloppy(sim, rng: random.Random):
    """greedy_state, but every fourth call sends something malformed (refused, no step)."""
    sloppy.calls = getattr(sloppy, "calls", 0) + 1
    if sloppy.calls % 4 == 0:
        return {"action_type": "reply_email", "email_id": "e01"}  # body missing: a shape error
    return POLICIES["greedy_state"](sim, rng)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    sloppy.calls = 0
    r = play_episode("sloppy", sloppy, "dinner_disaster", 3)
    assert r.refused > 0 and r.steps == 24
    return write(tmp_path_factory.mktemp("traj") / "t.jsonl", r.lines)


def lines_of(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def rewrite(tmp_path: Path, lines: list[dict]) -> Path:
    return write(tmp_path / "edited.jsonl", lines)


def test_file_layout(recorded):
    head, steps, final = read(recorded)
    assert head["format"] == FORMAT and head["task_id"] == "dinner_disaster" and head["seed"] == 3
    assert {"scenario_hash", "ghostexec_version", "policy", "observation_hash", "state_hash"} <= set(head)
    taken = [s for s in steps if not s["rejected"]]
    assert len(taken) == 24 and len(steps) > 24
    for s in taken:
        assert set(s["breakdown"]) >= {"conflict", "task", "relationship", "shaping"}
        assert abs(sum(s["breakdown"].values()) - s["reward"]) < 1e-9
        assert len(s["observation_hash"]) == 64 and len(s["state_hash"]) == 64
    assert any(s["events"] for s in taken)  # the scenario's timeline fires during the episode
    assert final["steps"] == 24 and 0.01 < final["grade"]["score"] < 0.99


def test_replay_ok(recorded):
    report = replay(recorded)
    assert report.ok, report.message
    assert report.message == "ok 24 steps"


@pytest.mark.parametrize(
    ("field", "index", "edit"),
    [
        ("reward", 5, lambda s: s.update(reward=s["reward"] + 0.001)),
        ("state_hash", 9, lambda s: s.update(state_hash="0" * 64)),
        ("observation_hash", 12, lambda s: s.update(observation_hash="f" * 64)),
        ("observation_hash", 8, lambda s: s.update(action={"action_type": "do_nothing"})),  # a different action
    ],
)
def test_tampered_step_is_named(recorded, tmp_path, field, index, edit):
    lines = lines_of(recorded)
    target = next(x for x in lines if x.get("index") == index)
    assert not target["rejected"]
    edit(target)
    report = replay(rewrite(tmp_path, lines))
    assert not report.ok
    assert (report.index, report.field) == (index, field), report.message
    assert f"step index {index}" in report.message


def test_removed_refusal_shifts_nothing_silently(recorded, tmp_path):
    lines = lines_of(recorded)
    refused = next(x for x in lines if x.get("rejected"))
    refused["action"] = {"action_type": "do_nothing"}  # now a real step where none was taken
    report = replay(rewrite(tmp_path, lines))
    assert (report.ok, report.index, report.field) == (False, refused["index"], "rejected")


def test_tampered_header_and_final(recorded, tmp_path):
    lines = lines_of(recorded)
    lines[0]["seed"] = 4
    report = replay(rewrite(tmp_path, lines))
    assert not report.ok and report.index is None and "reset" in report.message
    lines = lines_of(recorded)
    lines[0]["scenario_hash"] = "0" * 64
    assert replay(rewrite(tmp_path, lines)).field == "scenario_hash"
    lines = lines_of(recorded)
    lines[-1]["grade"]["score"] = 0.5
    assert replay(rewrite(tmp_path, lines)).field == "grade"


def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "step"}\n')
    with pytest.raises(TrajectoryError, match="line 1"):
        read(bad)
    bad.write_text(json.dumps({"type": "header", "format": "other/9"}) + "\n")
    with pytest.raises(TrajectoryError, match="format"):
        read(bad)


def test_cli_replay(recorded, tmp_path):
    def run(*paths):
        return subprocess.run(
            [sys.executable, "-m", "ghostexec.cli", "replay", *map(str, paths)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=SCENARIO_DIR.parent,
        )

    ok = run(recorded)
    assert ok.returncode == 0 and ok.stdout.strip() == "ok 24 steps", ok.stderr
    lines = lines_of(recorded)
    next(x for x in lines if x.get("index") == 10)["state_hash"] = "0" * 64
    bad = run(rewrite(tmp_path, lines))
    assert bad.returncode == 1
    assert "step index 10" in bad.stderr and "state_hash differs" in bad.stderr
