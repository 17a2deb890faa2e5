"""The `ghostexec` command line: play at the terminal (driven through a pipe), tasks, errors, and the
parser that turns typed commands into actions."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from ghostexec import Simulation, available_tasks, load_task
from ghostexec.cli import PLAY_HELP, parse_play_command
from ghostexec.policies import compose_reply
from ghostexec.scenario import SCENARIO_DIR

TIMEOUT = 60
REWARD_LINE = re.compile(r"^reward [+-]\d+\.\d{3}", re.M)


def ghostexec(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ghostexec.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        cwd=SCENARIO_DIR.parent,
    )


def start_of(task: str, seed: int = 0) -> Simulation:
    sim = Simulation()
    sim.reset(task_id=task, seed=seed)
    return sim


# --- play ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def session():
    """One scripted terminal session of phase2_core: help, a real reply to a critical email named in
    the briefing, wait, an invalid id, a malformed command, grade, quit."""
    sim = start_of("phase2_core")
    briefing = sim.observation.briefing
    critical = re.findall(r"^- (e\d+) \[CRITICAL\]", briefing, re.M)
    assert critical, "phase2_core should open with critical mail in the briefing"
    email_id = critical[0]
    body = compose_reply(sim, sim.world.emails[email_id])
    assert '"' not in body
    lines = [
        "help",
        f'reply {email_id} "{body.replace(chr(10), chr(92) + "n")}"',
        "",
        "wait",
        "archive e999",
        "frobnicate the widgets",
        'json {"action_type": "fly_to_the_moon"}',
        "grade",
        "quit",
        "wait",  # never read: the session has ended
    ]
    res = ghostexec("play", "--task", "phase2_core", stdin="\n".join(lines) + "\n")
    return {"res": res, "out": res.stdout, "briefing": briefing, "email_id": email_id}


def test_play_exits_zero(session):
    res = session["res"]
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr


def test_play_shows_the_opening_briefing(session):
    assert session["out"].startswith(session["briefing"])
    assert "Type 'help' for commands." in session["out"]


def test_play_help(session):
    assert PLAY_HELP in session["out"]


def test_play_reply_is_applied_and_rewarded(session):
    out, email_id = session["out"], session["email_id"]
    assert f"Your action: reply_email email_id={email_id} body=" in out
    assert "- Result: OK" in out
    assert f"replied to {email_id} (reply quality" in out
    rewards = REWARD_LINE.findall(out)
    assert len(rewards) == 3, rewards  # reply, wait, invalid archive
    assert "expectation met" in out


def test_play_invalid_id(session):
    out = session["out"]
    assert "- Result: INVALID - email_id: no email 'e999' in the inbox" in out
    assert re.search(r"^reward -\d+\.\d{3}  \(.*invalid_penalty -0\.300\)$", out, re.M), out


def test_play_malformed_commands(session):
    out = session["out"]
    assert "error: unknown command 'frobnicate' — type help" in out
    assert "not an action: action_type 'fly_to_the_moon' is not one of:" in out


def test_play_grade_and_final_line(session):
    out = session["out"]
    # meta output follows the prompt on the same line
    assert re.search(r"\] > grade so far 0\.\d{3}  critical_mail \d\.\d\d, conflicts \d\.\d\d", out), out
    final = re.search(r"^Episode stopped after (\d+) steps\. Return ([+-]\d+\.\d{3})\. Grade (0\.\d{3})\.$", out, re.M)
    assert final, out[-2000:]
    assert final.group(1) == "3"  # reply, wait, the invalid archive; rejected input takes no step
    assert 0.01 < float(final.group(3)) < 0.99


def test_play_prompt_counts_steps(session):
    out = session["out"]
    assert "[08:00 · step 1/40 · return +0.00] > " in out
    assert re.search(r"\[09:00 · step 4/40 · return [+-]\d\.\d\d\] > ", out), out


def test_play_to_the_end_of_the_episode():
    budget = load_task("dinner_disaster").step_budget
    res = ghostexec("play", "--task", "dinner_disaster", "--seed", "3", stdin="wait\n" * (budget + 5))
    assert res.returncode == 0, res.stderr
    assert f"Episode over after {budget} steps." in res.stdout
    assert "EPISODE OVER" in res.stdout
    assert len(REWARD_LINE.findall(res.stdout)) == budget


def test_play_end_of_input():
    res = ghostexec("play", stdin="breakdown\nwait\nbreakdown\n")
    assert res.returncode == 0, res.stderr
    assert "no step taken yet" in res.stdout
    assert "(end of input)" in res.stdout
    assert "Episode stopped after 1 steps." in res.stdout


def test_play_unknown_task():
    res = ghostexec("play", "--task", "no_such_task", stdin="")
    assert res.returncode == 2
    assert "unknown task 'no_such_task'" in res.stderr
    assert "phase2_core" in res.stderr


# --- other commands --------------------------------------------------------------------------------
def test_tasks_lists_every_shipped_task():
    res = ghostexec("tasks")
    assert res.returncode == 0, res.stderr
    listed = [line.split()[0] for line in res.stdout.splitlines() if line.strip()]
    assert listed == available_tasks()
    for tid in available_tasks():
        sc = load_task(tid)
        assert any(
            line.startswith(tid) and sc.title in line and f"{sc.step_budget} steps" in line for line in res.stdout.splitlines()
        )


def test_unknown_command():
    res = ghostexec("frobnicate")
    assert res.returncode == 2
    assert "unknown command 'frobnicate'" in res.stderr
    for cmd in ("serve", "mcp", "play", "validate-scenario", "schema", "tasks"):
        assert cmd in res.stderr


def test_no_command_prints_usage_and_exits_2():
    res = ghostexec()
    assert res.returncode == 2
    assert "ghostexec play" in res.stdout


def test_help_exits_0():
    res = ghostexec("--help")
    assert res.returncode == 0
    assert "ghostexec validate-scenario" in res.stdout


# --- parse_play_command ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "line, expected",
    [
        (
            'reply e01 "Dear Margaret, I confirm the numbers."',
            {"action_type": "reply_email", "email_id": "e01", "body": "Dear Margaret, I confirm the numbers."},
        ),
        ("reply e01 Sure thing", {"action_type": "reply_email", "email_id": "e01", "body": "Sure thing"}),
        ("reply e01 I can't make it", {"action_type": "reply_email", "email_id": "e01", "body": "I can't make it"}),
        ('reply e01 "Line one\\nLine two"', {"action_type": "reply_email", "email_id": "e01", "body": "Line one\nLine two"}),
        ("REPLY e02 ok", {"action_type": "reply_email", "email_id": "e02", "body": "ok"}),
        ("archive e07", {"action_type": "archive_email", "email_id": "e07"}),
        (
            "reschedule m05 2026-03-10T17:20",
            {"action_type": "reschedule_meeting", "meeting_id": "m05", "new_start": "2026-03-10T17:20"},
        ),
        (
            "reschedule m05 2026-03-10T17:20 2026-03-10T18:00",
            {
                "action_type": "reschedule_meeting",
                "meeting_id": "m05",
                "new_start": "2026-03-10T17:20",
                "new_end": "2026-03-10T18:00",
            },
        ),
        ("cancel m08", {"action_type": "cancel_meeting", "meeting_id": "m08"}),
        (
            "cancel m08 clashes with the board",
            {"action_type": "cancel_meeting", "meeting_id": "m08", "reason": "clashes with the board"},
        ),
        ("complete t01", {"action_type": "complete_task", "task_id": "t01"}),
        ("delegate t05 c02", {"action_type": "delegate_task", "task_id": "t05", "contact_id": "c02"}),
        (
            "delegate t05 c02 please by noon",
            {"action_type": "delegate_task", "task_id": "t05", "contact_id": "c02", "note": "please by noon"},
        ),
        (
            "message c09 sms running late, sorry",
            {"action_type": "send_message", "contact_id": "c09", "channel": "sms", "body": "running late, sorry"},
        ),
        (
            'message c09 SLACK "see you soon"',
            {"action_type": "send_message", "contact_id": "c09", "channel": "slack", "body": "see you soon"},
        ),
        ("message c09 hello there", {"action_type": "send_message", "contact_id": "c09", "body": "hello there"}),
        ("message c09 sms", {"action_type": "send_message", "contact_id": "c09", "body": "sms"}),  # a channel alone is the text
        ("wait", {"action_type": "do_nothing"}),
        ("pass", {"action_type": "do_nothing"}),
        ("  WAIT  ", {"action_type": "do_nothing"}),
        ('json {"action_type": "do_nothing"}', {"action_type": "do_nothing"}),
        (
            'json {"action_type": "reply_email", "email_id": "e01", "body": "hi"}',
            {"action_type": "reply_email", "email_id": "e01", "body": "hi"},
        ),
        ('json {"action_type": "fly"}', {"action_type": "fly"}),  # shape is judged by the simulation
    ],
)
def test_parse_play_command_actions(line, expected):
    assert parse_play_command(line) == expected


@pytest.mark.parametrize(
    "line, expected",
    [
        ("help", "help"),
        ("?", "?"),
        ("Grade", "grade"),
        ("briefing", "briefing"),
        ("breakdown", "breakdown"),
        ("q", "q"),
        ("quit", "quit"),
    ],
)
def test_parse_play_command_meta(line, expected):
    assert parse_play_command(line) == expected


@pytest.mark.parametrize("line", ["", "   ", "\n"])
def test_parse_play_command_empty(line):
    assert parse_play_command(line) == "empty"


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("reply e01", "'reply' needs more arguments"),
        ("reply", "'reply' needs more arguments"),
        ("archive", "'archive' needs more arguments"),
        ("reschedule m05", "'reschedule' needs more arguments"),
        ("cancel", "'cancel' needs more arguments"),
        ("complete", "'complete' needs more arguments"),
        ("delegate t05", "'delegate' needs more arguments"),
        ("message c09", "'message' needs more arguments"),
        ("frobnicate", "unknown command 'frobnicate'"),
        ("json {bad", "invalid JSON"),
        ("json [1, 2]", "must be an object"),
        ('json "do_nothing"', "must be an object"),
    ],
)
def test_parse_play_command_errors(line, fragment):
    out = parse_play_command(line)
    assert isinstance(out, str) and out.startswith("error:"), out
    assert fragment in out


def test_parse_play_command_unbalanced_quote_falls_back_to_words():
    assert parse_play_command('reply e01 "half quoted') == {
        "action_type": "reply_email",
        "email_id": "e01",
        "body": '"half quoted',
    }


def test_parse_play_command_bare_text_newline():
    assert parse_play_command("reply e01 Hi\\nthere") == {"action_type": "reply_email", "email_id": "e01", "body": "Hi\nthere"}
