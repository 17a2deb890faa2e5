"""Scenario files are rejected with precise JSON-path errors, by the library and by the CLI.

Every case starts from the valid shipped `phase2_core` scenario, breaks exactly one thing and
asserts the JSON path the author is sent to and a fragment of the message that says what is wrong.
The shipped files must also satisfy the committed JSON Schema, which must be the one the models
generate (`ghostexec schema --check`).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ghostexec.scenario import (
    SCENARIO_DIR,
    SCHEMA_FILE,
    Problem,
    ScenarioError,
    available_tasks,
    load_scenario_file,
    parse_scenario,
    scenario_json_schema,
)

BASE_FILE = SCENARIO_DIR / "phase2_core.json"
SHIPPED = sorted(p for p in SCENARIO_DIR.glob("*.json") if not p.name.endswith(".schema.json"))
CLI_TIMEOUT = 60


@pytest.fixture(scope="module")
def base_data() -> dict[str, Any]:
    return json.loads(BASE_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def data(base_data) -> dict[str, Any]:
    """A fresh deep copy of phase2_core, free to mutate."""
    return copy.deepcopy(base_data)


def problems_of(data: Any) -> list[Problem]:
    with pytest.raises(ScenarioError) as exc_info:
        parse_scenario(data, "mutated.json")
    err = exc_info.value
    assert err.problems, "a ScenarioError must list at least one problem"
    assert err.source == "mutated.json"
    for p in err.problems:
        assert isinstance(p, Problem)
        assert p.path.startswith("$"), p
        assert p.message.strip(), p
    return err.problems


def assert_problem(problems: list[Problem], path: str, *fragments: str) -> Problem:
    """Exactly one problem at `path`, and its message contains every fragment."""
    at = [p for p in problems if p.path == path]
    assert len(at) == 1, f"expected one problem at {path}, got: {[str(p) for p in problems]}"
    for frag in fragments:
        assert frag in at[0].message, f"{frag!r} not in {at[0]}"
    return at[0]


def index_of(items: list[dict], entity_id: str) -> int:
    return next(i for i, x in enumerate(items) if x["id"] == entity_id)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ghostexec.cli", *args],
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        cwd=SCENARIO_DIR.parent,
    )


# --- the base is valid, so every failure below is caused by its one mutation ------------------------
def test_base_scenario_is_valid(data):
    sc = parse_scenario(data, "phase2_core.json")
    assert sc.id == "phase2_core"


# --- dangling references --------------------------------------------------------------------------
def test_dangling_email_sender(data):
    data["emails"][0]["sender"] = "c99"
    problems = problems_of(data)
    assert_problem(problems, "$.emails[0].sender", "unknown contact id 'c99'", "known contacts:", "c01")
    assert len(problems) == 1


def test_dangling_meeting_attendee(data):
    i = index_of(data["meetings"], "m01")
    data["meetings"][i]["attendees"] = ["c02", "c98"]
    problems = problems_of(data)
    assert_problem(problems, f"$.meetings[{i}].attendees[1]", "unknown contact id 'c98'")
    assert len(problems) == 1


def test_dangling_task_delegable_to(data):
    i = index_of(data["tasks"], "t02")
    data["tasks"][i]["delegable_to"] = ["c97"]
    problems = problems_of(data)
    assert_problem(problems, f"$.tasks[{i}].delegable_to[0]", "unknown contact id 'c97'")
    assert len(problems) == 1


def test_dangling_sender_of_email_created_by_event(data):
    i = next(i for i, ev in enumerate(data["events"]) if ev["kind"] == "new_email")
    data["events"][i]["email"]["sender"] = "c55"
    problems = problems_of(data)
    assert_problem(problems, f"$.events[{i}].email.sender", "unknown contact id 'c55'")


def test_delegable_to_contact_with_no_capacity(data):
    no_capacity = next(c["id"] for c in data["contacts"] if c.get("capacity", 0) == 0)
    i = index_of(data["tasks"], "t02")
    data["tasks"][i]["delegable_to"] = [no_capacity]
    problems = problems_of(data)
    assert_problem(problems, f"$.tasks[{i}].delegable_to[0]", f"contact '{no_capacity}'", "capacity 0")
    assert len(problems) == 1


# --- time ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "end, fragment",
    [("2026-03-10T09:30:00", "is not after start"), ("2026-03-10T10:00:00", "is not after start")],
    ids=["before-start", "equal-to-start"],
)
def test_meeting_end_not_after_start(data, end, fragment):
    i = index_of(data["meetings"], "m03")
    assert data["meetings"][i]["start"] == "2026-03-10T10:00:00"
    data["meetings"][i]["end"] = end
    problems = problems_of(data)
    assert_problem(problems, f"$.meetings[{i}].end", fragment, end, "2026-03-10T10:00:00")
    assert len(problems) == 1


@pytest.mark.parametrize(
    "where",
    [("meetings", 0, "start"), ("emails", 0, "received_at"), ("start",)],
    ids=["meeting-start", "email-received", "scenario-start"],
)
def test_impossible_date(data, where):
    target = data
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = "2026-02-30T09:00:00"
    problems = problems_of(data)
    path = "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in where)
    assert_problem(problems, path, "valid datetime", "day value is outside expected range")


def test_impossible_date_in_event(data):
    data["events"][0]["at"] = "2026-02-30T09:00:00"
    problems = problems_of(data)
    assert_problem(problems, "$.events[0].at", "day value is outside expected range")


def test_initial_email_received_after_start(data):
    data["emails"][0]["received_at"] = "2026-03-10T09:00:00"
    problems = problems_of(data)
    assert_problem(problems, "$.emails[0].received_at", "is after the scenario start", "2026-03-10T08:00:00")
    assert len(problems) == 1


def test_initial_email_needs_received_at(data):
    del data["emails"][0]["received_at"]
    problems = problems_of(data)
    assert_problem(problems, "$.emails[0].received_at", "required")


def test_timezone_aware_datetime_is_a_problem_not_a_crash(data):
    data["meetings"][0]["start"] = "2026-03-10T08:30:00+02:00"
    problems = problems_of(data)
    assert any(p.path.startswith("$.meetings[0]") for p in problems), problems


# --- enums, structure ------------------------------------------------------------------------------
def test_unknown_priority(data):
    data["emails"][0]["priority"] = "urgent"
    problems = problems_of(data)
    assert_problem(problems, "$.emails[0].priority", "'low'", "'normal'", "'high'", "'critical'")
    assert len(problems) == 1


def test_unknown_mood(data):
    data["contacts"][0]["mood"] = "grumpy"
    problems = problems_of(data)
    assert_problem(problems, "$.contacts[0].mood", "'furious'", "'delighted'")
    assert len(problems) == 1


def test_unknown_enum_inside_event_has_no_union_tag_in_path(data):
    i = next(i for i, ev in enumerate(data["events"]) if ev["kind"] == "new_email")
    data["events"][i]["email"]["priority"] = "urgent"
    problems = problems_of(data)
    assert_problem(problems, f"$.events[{i}].email.priority", "'critical'")


def test_unknown_event_kind(data):
    data["events"][0]["kind"] = "explode"
    problems = problems_of(data)
    assert_problem(problems, "$.events[0]", "'explode'", "new_email")


@pytest.mark.parametrize(
    "typo, good",
    [("step_bugdet", "step_budget"), ("emails_", "emails"), ("Title", "title")],
)
def test_unknown_top_level_key(data, typo, good):
    data[typo] = data[good]
    problems = problems_of(data)
    assert_problem(problems, f"$.{typo}", "Extra inputs are not permitted")
    assert len(problems) == 1


def test_unknown_nested_key(data):
    data["contacts"][2]["capacty"] = 3
    problems = problems_of(data)
    assert_problem(problems, "$.contacts[2].capacty", "Extra inputs are not permitted")


@pytest.mark.parametrize(
    "container, index, field",
    [(None, None, "step_budget"), ("emails", 0, "subject"), ("contacts", 3, "name"), ("meetings", 1, "end")],
)
def test_missing_required_field(data, container, index, field):
    if container is None:
        del data[field]
        path = f"$.{field}"
    else:
        del data[container][index][field]
        path = f"$.{container}[{index}].{field}"
    problems = problems_of(data)
    assert_problem(problems, path, "Field required")


def test_wrong_type(data):
    data["step_budget"] = "forty"
    problems = problems_of(data)
    assert_problem(problems, "$.step_budget", "valid integer")


@pytest.mark.parametrize("not_an_object", [[], "scenario", None, 42])
def test_top_level_must_be_an_object(not_an_object):
    problems = problems_of(not_an_object)
    assert [p.path for p in problems] == ["$"]


# --- ids -------------------------------------------------------------------------------------------
def test_duplicate_email_ids(data):
    data["emails"][1]["id"] = data["emails"][0]["id"]
    problems = problems_of(data)
    assert_problem(problems, "$.emails[1].id", "duplicate id 'e01'", "$.emails[0].id")


def test_email_id_equal_to_meeting_id(data):
    m = index_of(data["meetings"], "m03")
    data["emails"][1]["id"] = "m03"
    problems = problems_of(data)
    # ids are claimed in file order (contacts, emails, meetings, tasks): the meeting is the second use
    assert_problem(problems, f"$.meetings[{m}].id", "duplicate id 'm03'", "first used at $.emails[1].id")
    assert len(problems) == 1


def test_event_created_entity_reuses_an_id(data):
    i = next(i for i, ev in enumerate(data["events"]) if ev["kind"] == "new_email")
    data["events"][i]["email"]["id"] = "e01"
    problems = problems_of(data)
    assert_problem(problems, f"$.events[{i}].email.id", "duplicate id 'e01'", "$.emails[0].id")


def test_duplicate_event_ids(data):
    data["events"][1]["id"] = data["events"][0]["id"]
    problems = problems_of(data)
    assert_problem(problems, "$.events[1].id", "duplicate event id", "$.events[0].id")


@pytest.mark.parametrize("kind", ["contacts", "tasks", "meetings"])
def test_reserved_exec_id(data, kind):
    data[kind][-1]["id"] = "exec"
    problems = problems_of(data)
    assert_problem(problems, f"$.{kind}[{len(data[kind]) - 1}].id", "'exec' is reserved")


@pytest.mark.parametrize("bad_id", ["", "e 01", "e/01", "é01", "x" * 65])
def test_id_shape(data, bad_id):
    data["emails"][0]["id"] = bad_id
    problems = problems_of(data)
    assert any(p.path == "$.emails[0].id" for p in problems), problems


# --- events ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, kind, bogus",
    [("meeting_id", "move_meeting", "m77"), ("task_id", "move_deadline", "t77"), ("contact_id", "set_channel", "c77")],
)
def test_event_points_at_missing_entity(data, field, kind, bogus):
    i = next(i for i, ev in enumerate(data["events"]) if ev["kind"] == kind)
    data["events"][i][field] = bogus
    problems = problems_of(data)
    entity = field.split("_")[0]
    assert_problem(problems, f"$.events[{i}].{field}", f"unknown {entity} id '{bogus}'", "known:")
    assert len(problems) == 1


def test_event_by_missing_contact(data):
    i = next(i for i, ev in enumerate(data["events"]) if ev["kind"] == "move_meeting")
    data["events"][i]["by"] = "c66"
    problems = problems_of(data)
    assert_problem(problems, f"$.events[{i}].by", "unknown contact id 'c66'")


def test_event_with_both_at_and_after_step(data):
    data["events"][0]["after_step"] = 3
    problems = problems_of(data)
    assert_problem(problems, "$.events[0]", "exactly one of 'at'", "'after_step'")


def test_event_with_neither_at_nor_after_step(data):
    del data["events"][0]["at"]
    problems = problems_of(data)
    assert_problem(problems, "$.events[0]", "exactly one of 'at'", "'after_step'")
    assert len(problems) == 1


@pytest.mark.parametrize(
    "at",
    ["2026-03-11T10:00:00", "2026-03-10T07:00:00", "2026-03-10T08:00:00", "2026-03-10T21:40:00"],
    ids=["next-day", "before-start", "at-start", "after-end"],
)
def test_event_at_outside_episode(data, at):
    # phase2_core: 40 steps × 20 min from 08:00, so the episode is (08:00, 21:20]
    data["events"][0]["at"] = at
    problems = problems_of(data)
    assert_problem(problems, "$.events[0].at", "outside the episode", "never fire")
    assert len(problems) == 1


def test_event_at_the_last_moment_is_fine(data):
    data["events"][0]["at"] = "2026-03-10T21:20:00"
    data["events"][0]["jitter_steps"] = 0
    parse_scenario(data)


def test_event_after_step_beyond_budget(data):
    del data["events"][0]["at"]
    data["events"][0]["after_step"] = data["step_budget"] + 1
    problems = problems_of(data)
    assert_problem(problems, "$.events[0].after_step", "beyond the step budget", str(data["step_budget"]))
    assert len(problems) == 1


def test_event_after_step_zero(data):
    del data["events"][0]["at"]
    data["events"][0]["after_step"] = 0
    problems = problems_of(data)
    assert_problem(problems, "$.events[0].after_step", "greater than or equal to 1")


# --- tasks -----------------------------------------------------------------------------------------
def test_dependency_cycle(data):
    a, b = index_of(data["tasks"], "t01"), index_of(data["tasks"], "t02")
    data["tasks"][a]["dependencies"] = ["t02"]
    data["tasks"][b]["dependencies"] = ["t01"]
    problems = problems_of(data)
    assert_problem(problems, f"$.tasks[{a}].dependencies", "dependency cycle", "'t01'")
    assert_problem(problems, f"$.tasks[{b}].dependencies", "dependency cycle", "'t02'")


def test_longer_dependency_cycle(data):
    ids = ["t03", "t05", "t07"]
    for tid, dep in zip(ids, ids[1:] + ids[:1]):
        data["tasks"][index_of(data["tasks"], tid)]["dependencies"] = [dep]
    problems = problems_of(data)
    for tid in ids:
        assert_problem(problems, f"$.tasks[{index_of(data['tasks'], tid)}].dependencies", "dependency cycle")


def test_dependency_on_missing_task(data):
    i = index_of(data["tasks"], "t03")
    data["tasks"][i]["dependencies"] = ["t404"]
    problems = problems_of(data)
    assert_problem(problems, f"$.tasks[{i}].dependencies[0]", "unknown task id 't404'")


# --- files and the CLI -----------------------------------------------------------------------------
def test_invalid_json_reports_line_and_column(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{\n  "id": "x",\n  "title": oops\n}\n', encoding="utf-8")
    with pytest.raises(ScenarioError) as exc_info:
        load_scenario_file(bad)
    (p,) = exc_info.value.problems
    assert p.path == "$"
    assert "invalid JSON" in p.message and "line 3" in p.message and "column 12" in p.message


def test_unreadable_file(tmp_path):
    with pytest.raises(ScenarioError) as exc_info:
        load_scenario_file(tmp_path / "nope.json")
    assert exc_info.value.problems[0].path == "$"
    assert "cannot read" in exc_info.value.problems[0].message


def test_cli_rejects_bad_file_with_paths(tmp_path, data):
    data["emails"][0]["sender"] = "c99"
    data["contacts"][0]["mood"] = "grumpy"
    bad = tmp_path / "bad_scenario.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    res = run_cli("validate-scenario", str(bad))
    assert res.returncode == 1, res
    assert "INVALID" in res.stdout and str(bad) in res.stdout
    assert "$.contacts[0].mood" in res.stdout
    assert "Traceback" not in res.stderr


def test_cli_reports_every_semantic_problem(tmp_path, data):
    data["emails"][0]["sender"] = "c99"
    data["events"][0]["at"] = "2026-03-12T10:00:00"
    bad = tmp_path / "bad_scenario.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    res = run_cli("validate-scenario", str(bad))
    assert res.returncode == 1
    assert "2 problem(s)" in res.stdout
    assert "  $.emails[0].sender: unknown contact id 'c99'" in res.stdout
    assert "  $.events[0].at: " in res.stdout


def test_cli_invalid_json_text(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text('{"id": "x",,}', encoding="utf-8")
    res = run_cli("validate-scenario", str(bad))
    assert res.returncode == 1
    assert "invalid JSON at line 1 column 12" in res.stdout


def test_cli_one_bad_file_among_good_ones_fails_the_run(tmp_path, data):
    data["tasks"][0]["dependencies"] = ["t01"]
    bad = tmp_path / "self_dependent.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    res = run_cli("validate-scenario", str(SHIPPED[0]), str(bad))
    assert res.returncode == 1
    assert f"ok      {SHIPPED[0]}" in res.stdout
    assert "$.tasks[0].dependencies[0]: a task cannot depend on itself" in res.stdout


def test_cli_accepts_every_shipped_scenario_and_skips_the_schema():
    res = run_cli("validate-scenario", *(str(p) for p in sorted(SCENARIO_DIR.glob("*.json"))))
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    for path in SHIPPED:
        assert any(line.startswith("ok ") and str(path) in line for line in lines), (path, res.stdout)
    assert any(line.startswith("skip ") and SCHEMA_FILE.name in line for line in lines), res.stdout
    assert "INVALID" not in res.stdout


def test_cli_timezone_aware_datetime_is_reported_not_crashed(tmp_path, data):
    data["meetings"][0]["start"] = "2026-03-10T08:30:00+02:00"
    bad = tmp_path / "tz.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    res = run_cli("validate-scenario", str(bad))
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "$.meetings[0]" in res.stdout


def test_shipped_files_are_the_available_tasks():
    assert [p.stem for p in SHIPPED] == available_tasks()
    assert len(SHIPPED) >= 3


# --- the JSON Schema -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def test_committed_schema_is_generated_from_the_models(schema):
    assert schema == scenario_json_schema()
    expected_text = json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == expected_text


def test_schema_check_command():
    res = run_cli("schema", "--check")
    assert res.returncode == 0, res.stderr
    assert "up to date" in res.stdout


def test_schema_is_a_valid_draft_2020_12_schema(schema):
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_satisfies_the_schema(schema, path):
    validator = Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(json.loads(path.read_text(encoding="utf-8"))), key=lambda e: e.json_path)
    assert not errors, [f"{e.json_path}: {e.message}" for e in errors]


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda d: d["emails"][0].__setitem__("priority", "urgent"), "$.emails[0].priority"),
        (lambda d: d["contacts"][0].__setitem__("mood", "grumpy"), "$.contacts[0].mood"),
    ],
    ids=["priority", "mood"],
)
def test_schema_rejects_unknown_enum(schema, data, mutate, path):
    mutate(data)
    errors = list(Draft202012Validator(schema).iter_errors(data))
    assert errors, "the JSON Schema accepted an unknown enum value"
    assert path in {e.json_path for e in errors}
    # the library agrees on the path
    assert path in {p.path for p in problems_of(data)}


def test_schema_rejects_unknown_top_level_key(schema, data):
    data["step_bugdet"] = 3
    errors = list(Draft202012Validator(schema).iter_errors(data))
    assert any("step_bugdet" in e.message for e in errors), [e.message for e in errors]


def test_schema_file_path_is_the_one_the_cli_skips():
    assert SCHEMA_FILE.name.endswith(".schema.json")
    assert Path(SCHEMA_FILE).parent == SCENARIO_DIR
