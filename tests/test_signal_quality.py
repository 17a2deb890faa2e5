"""The reward and the graders measure what they claim (issue #5), on every scenario, seeds 0-4.

- ordering: the look-ahead planner grades above the text-only heuristic, which grades above
  random valid play, each by MARGIN (means over seeds, per scenario);
- exploits: no reward hack (ghostexec/policies/exploits.py) earns more return or grade than doing
  nothing, beyond a small epsilon, on any scenario and any seed (per seed, not only on average);
- spread: the planner's mean grade is at least SPREAD above do_nothing's.

If these fail, fix the reward, the graders or the scenario, never the constants below. The same
numbers are printed by `python -m ghostexec.policies.report` (docs/evaluation.md).
"""

from __future__ import annotations

import statistics

import pytest

from ghostexec.policies import EXPLOITS
from ghostexec.policies.report import measure
from ghostexec.scenario import available_tasks

SEEDS = range(5)
# One grade point in twenty: well above seed noise of the deterministic policies' means and
# below the smallest real gap we claim (planner vs heuristic on phase2_core, measured 0.057).
MARGIN = 0.05
# Exploits may tie doing nothing but not beat it: a grade epsilon of 0.02 (2% of the 0.97 span)
# and a return epsilon of half an idle penalty (0.05).
GRADE_EPSILON = 0.02
RETURN_EPSILON = 0.05
SPREAD = 0.5  # planner minus do_nothing, mean grade

TASKS = available_tasks()
POLICIES = ("do_nothing", "random_valid", "heuristic_text", "planner", *EXPLOITS)


@pytest.fixture(scope="module")
def results():
    return measure(POLICIES, TASKS, SEEDS)


def mean_grade(results, policy, task):
    return statistics.mean(e.grade for e in results[policy, task])


@pytest.mark.parametrize("task", TASKS)
def test_planner_beats_heuristic_beats_random(results, task):
    planner, heuristic, rand = (mean_grade(results, p, task) for p in ("planner", "heuristic_text", "random_valid"))
    assert planner >= heuristic + MARGIN, (task, planner, heuristic)
    assert heuristic >= rand + MARGIN, (task, heuristic, rand)


@pytest.mark.parametrize("task", TASKS)
def test_planner_spread_over_doing_nothing(results, task):
    assert mean_grade(results, "planner", task) - mean_grade(results, "do_nothing", task) >= SPREAD


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("exploit", EXPLOITS)
def test_exploits_never_beat_doing_nothing(results, task, exploit):
    for idle, hack in zip(results["do_nothing", task], results[exploit, task], strict=True):
        assert hack.seed == idle.seed
        assert hack.ret <= idle.ret + RETURN_EPSILON, (exploit, task, hack.seed, hack.ret, idle.ret)
        assert hack.grade <= idle.grade + GRADE_EPSILON, (exploit, task, hack.seed, hack.grade, idle.grade)


def test_the_exploit_family_is_the_one_the_issue_names():
    assert set(EXPLOITS) == {"reply_spam", "message_spam_vip", "archive_all", "cancel_all", "task_churn"}
