"""Evaluation: pass^k, aggregation, the episode loop, the CLI, and lockstep parity over OpenEnv and MCP."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys

import pytest

from ghostexec.evaluation import (
    MAX_REFUSED_IN_A_ROW,
    EpisodeResult,
    ParityError,
    aggregate,
    format_table,
    parse_seeds,
    pass_hat_k,
    pick,
    play_episode,
    run_eval,
)
from ghostexec.policies import POLICIES, run_episode
from ghostexec.scenario import SCENARIO_DIR
from ghostexec.trajectory import replay


# --- pass^k ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "c", "k"), [(5, 3, 2), (6, 4, 3), (4, 4, 4), (7, 2, 1), (5, 0, 2)])
def test_pass_hat_k_is_the_chance_k_distinct_trials_all_pass(n, c, k):
    trials = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    exact = sum(all(trials[i] for i in s) for s in subsets) / len(subsets)
    assert pass_hat_k(n, c, k) == pytest.approx(exact)


def test_pass_hat_k_edges():
    assert pass_hat_k(10, 10, 3) == 1.0
    assert pass_hat_k(10, 5, 1) == 0.5
    assert pass_hat_k(3, 3, 4) is None  # k > n: not estimable
    assert pass_hat_k(10, 9, 3) < pass_hat_k(10, 9, 1)  # consistency is harder than one success


# --- aggregation ----------------------------------------------------------------------------------
def fake(policy, task, seed, grade, ret, steps=10, invalid=0):
    return EpisodeResult(policy, task, seed, steps, ret, grade, invalid, 0, [ret / steps] * steps, "h")


def test_aggregate_rows_and_all_row():
    results = [
        fake("p", "a", 0, 0.9, 2.0),
        fake("p", "a", 1, 0.4, 0.0, invalid=5),
        fake("p", "a", 2, 0.6, 1.0),
        fake("p", "b", 0, 0.1, -1.0),
        fake("p", "b", 1, 0.2, -3.0),
        fake("p", "b", 2, 0.8, 1.0),
    ]
    rows = aggregate(results, threshold=0.5, k=2)
    a, b, all_ = rows
    assert (a.task_id, b.task_id, all_.task_id) == ("a", "b", "ALL")
    assert a.grade_mean == pytest.approx(0.6333333) and a.return_mean == pytest.approx(1.0)
    assert a.return_std == pytest.approx(1.0)  # sample std of 2, 0, 1
    assert a.passes == 2 and a.pass_k == pytest.approx(1 / 3)
    assert a.invalid_rate == pytest.approx(5 / 30)
    assert b.passes == 1 and b.pass_k == 0.0
    assert all_.pass_k == pytest.approx((1 / 3 + 0) / 2) and all_.n == 6
    table = format_table(rows, threshold=0.5, k=2)
    assert "pass^2 (grade ≥ 0.5)" in table.splitlines()[0]
    assert "| p | a | 3 | +1.000 ± 1.000 | 0.633 ± 0.252 | 0.333 | 2/3 | 16.7 | 10.0 |" in table


def test_argument_helpers():
    assert parse_seeds("0-3,7,2") == [0, 1, 2, 3, 7]
    for bad in ("x", "5-2", "-1", ""):
        with pytest.raises(ValueError):
            parse_seeds(bad)
    assert pick("all", ["a", "b"], "task") == ["a", "b"]
    with pytest.raises(ValueError, match=r"unknown policy nope; available: a, b"):
        pick("a,nope", ["a", "b"], "policy")


# --- the episode loop -----------------------------------------------------------------------------
def test_episode_matches_the_policies_runner():
    r = play_episode("greedy_state", POLICIES["greedy_state"], "monday_morning", 2)
    sim, results = run_episode("monday_morning", 2, POLICIES["greedy_state"])
    assert r.state_hash == sim.state_hash() and r.grade == sim.grade().score
    assert r.rewards == [x.reward for x in results]
    assert r.steps == 36 and r.invalid == 0 and r.refused == 0


def test_a_policy_that_only_sends_garbage_is_cut_off():
    r = play_episode("garbage", lambda sim, rng: {"action_type": "teleport"}, "phase2_core", 0)
    assert r.truncated and r.refused == MAX_REFUSED_IN_A_ROW and r.steps == 0


class LyingRemote:
    """Agrees with the mirror except for the reward of the fourth action sent."""

    name = "liar"

    def __init__(self):
        self.n = 0

    def reset(self, task_id, seed, episode_id):
        return {"rejected": False}

    def step(self, action):
        self.n += 1
        return {"rejected": False, "reward": 123.0} if self.n == 4 else {"rejected": False}

    def close(self):
        pass


def test_a_remote_that_disagrees_is_reported_at_its_step():
    with pytest.raises(ParityError) as err:
        play_episode("greedy_state", POLICIES["greedy_state"], "phase2_core", 0, remote=LyingRemote())
    assert (err.value.index, err.value.name) == (3, "reward")
    assert "action index 3: reward differs" in str(err.value)


# --- CLI ------------------------------------------------------------------------------------------
def cli(*args, timeout=120):
    return subprocess.run(
        [sys.executable, "-m", "ghostexec.cli", *args], capture_output=True, text=True, timeout=timeout, cwd=SCENARIO_DIR.parent
    )


def test_cli_eval_writes_table_trajectories_results_and_chart(tmp_path):
    res = cli(
        "eval",
        "--policy",
        "greedy_state,do_nothing",
        "--task",
        "phase2_core,dinner_disaster",
        "--seeds",
        "0-2",
        "--out",
        str(tmp_path),
    )
    assert res.returncode == 0, res.stderr
    header = res.stdout.splitlines()[0]
    assert "pass^3 (grade ≥ 0.5)" in header and "invalid %" in header
    assert "| greedy_state | ALL | 6 |" in res.stdout
    assert "eval[inproc] 12/12 (100%" in res.stderr  # plain progress lines when not a terminal
    files = sorted((tmp_path / "trajectories").rglob("*.jsonl"))
    assert len(files) == 12
    assert all(replay(f).ok for f in files)
    doc = json.loads((tmp_path / "results.json").read_text())
    assert len(doc["episodes"]) == 12 and doc["k"] == 3 and doc["threshold"] == 0.5
    greedy = [e for e in doc["episodes"] if e["policy"] == "greedy_state"]
    idle = [e for e in doc["episodes"] if e["policy"] == "do_nothing"]
    assert min(e["grade"] for e in greedy) > max(e["grade"] for e in idle)
    assert (tmp_path / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "table.md").read_text().strip() == res.stdout.split("\n\n")[0].strip()


def test_cli_eval_bad_arguments():
    res = cli("eval", "--policy", "greedy_state,nope", "--task", "phase2_core", "--seeds", "0")
    assert res.returncode == 2
    assert "unknown policy nope; available: " in res.stderr and "greedy_state" in res.stderr
    res = cli("eval", "--policy", "all", "--task", "mars", "--seeds", "0")
    assert res.returncode == 2 and "unknown task mars" in res.stderr
    assert cli("eval", "--policy", "do_nothing", "--seeds", "9-1").returncode == 2


# --- lockstep parity over the real transports ----------------------------------------------------
def sloppy_random(sim, rng: random.Random):
    """A policy exercising every path: valid and invalid steps, and refused malformed actions."""
    roll = rng.random()
    if roll < 0.1:
        return {"action_type": "send_message", "contact_id": "c01", "body": "hi", "channel": "pigeon"}
    if roll < 0.5:
        return POLICIES["greedy_state"](sim, rng)
    return {"action_type": "complete_task", "task_id": rng.choice(["t01", "t02", "t99"])}


@pytest.fixture(scope="module")
def server_url():
    from ghostexec.cli import create_app
    from openenv_server.testing import running_server

    with running_server(app=create_app()) as url:
        yield url


@pytest.mark.parametrize("transport", ["openenv", "mcp"])
def test_remote_episodes_match_the_mirror_step_by_step(server_url, transport):
    if transport == "openenv":
        from openenv_server.evaluation import OpenEnvRemote as Remote
    else:
        from mcp_server.evaluation import McpRemote as Remote
    remote = Remote(server_url)
    try:
        policies = {"sloppy_random": sloppy_random, "greedy_state": POLICIES["greedy_state"]}
        results = run_eval(policies, ["dinner_disaster", "travel_day"], [1], remote=remote)
    finally:
        remote.close()
    local = run_eval(policies, ["dinner_disaster", "travel_day"], [1])
    assert [r.summary() for r in results] == [r.summary() for r in local]
    assert any(r.refused for r in results) and any(r.invalid for r in results)


def test_cli_eval_over_openenv_starts_its_own_server(tmp_path):
    res = cli(
        "eval",
        "--policy",
        "greedy_state",
        "--task",
        "dinner_disaster",
        "--seeds",
        "0",
        "--transport",
        "openenv",
        "--out",
        str(tmp_path),
    )
    assert res.returncode == 0, res.stderr
    (traj,) = (tmp_path / "trajectories").rglob("*.jsonl")
    assert json.loads(traj.read_text().splitlines()[0])["transport"] == "openenv"
    assert replay(traj).ok
