"""The HTTP side against a real uvicorn server: OpenEnv routes, /reset + /step, /episodes, limits,
bad input (never a 500) and `openenv validate --url`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import ghostexec
from ghostexec import actions as core_actions
from openenv_server.testing import running_server

TTL = 1.5


@pytest.fixture(scope="module")
def server():
    with running_server(max_episodes=4, episode_ttl_s=TTL) as url:
        yield url


@pytest.fixture()
def http(server):
    with httpx.Client(base_url=server, timeout=30) as client:
        client.episodes_created = []
        yield client
        # leave no episodes behind for the next test (the store is bounded at 4)
        for ep in list(client.episodes_created):
            client.delete(f"/episodes/{ep}")


def new_episode(http, **body) -> dict:
    r = http.post("/episodes", json=body)
    assert r.status_code == 201, r.text
    data = r.json()
    http.episodes_created.append(data["id"])
    return data


def test_health_metadata_schema(http):
    assert http.get("/health").json() == {"status": "healthy"}
    meta = http.get("/metadata").json()
    assert meta["name"] == "ghostexec" and "chief of staff" in meta["description"]
    for task_id in ghostexec.available_tasks():
        assert task_id in meta["description"]
    schema = http.get("/schema").json()
    action = schema["action"]
    mapping = action["discriminator"]["mapping"]
    for action_type, core_model in core_actions.MODEL_BY_TYPE.items():
        variant = action["$defs"][mapping[action_type].split("/")[-1]]
        required = {n for n, f in core_model.model_fields.items() if f.is_required()}
        assert set(variant["required"]) - {"action_type"} == required, action_type
    assert {"briefing", "step_ok", "error", "breakdown", "steps_remaining", "done"} <= set(schema["observation"]["properties"])
    assert {"world", "state_hash", "task_id"} <= set(schema["state"]["properties"])
    cap = http.get("/capacity").json()
    assert cap["sessions"]["max"] == 64 and cap["episodes"]["max"] == 4


def _tz_aware_scenario() -> dict:
    # timezone-aware times are refused (by the core's validator; earlier cores crashed on them,
    # which the adapter's safety net turned into the same 422): never a 500
    scenario = ghostexec.load_task("phase2_core").model_dump(mode="json", by_alias=True, exclude_none=True)
    scenario["start"] = "2026-03-10T08:00:00+02:00"
    return scenario


def test_reset_is_a_stateless_preview_and_never_500s(http):
    r = http.post("/reset", json={"task_id": "monday_morning", "seed": 4, "episode_id": "peek"})
    assert r.status_code == 200
    body = r.json()
    assert body["done"] is False and body["reward"] == 0.0
    assert body["observation"]["task_id"] == "monday_morning" and body["observation"]["episode_id"] == "peek"
    assert "GHOSTEXEC BRIEFING" in body["observation"]["briefing"]
    assert r.headers["x-ghostexec-stateless"].startswith("true")
    assert http.post("/reset").status_code == 200  # empty body: the default task
    for bad, code in (
        ({"task_id": "nope"}, "unknown_task"),
        ({"scenario": {"id": "x"}}, "invalid_scenario"),
        ({"bogus": 1}, "invalid_reset_option"),
        ({"scenario": "not an object"}, "invalid_reset_option"),
        ({"scenario": _tz_aware_scenario()}, "invalid_scenario"),
    ):
        r = http.post("/reset", json=bad)
        assert r.status_code == 422 and r.json()["detail"]["error"] == code, (bad, r.text)
    assert http.post("/reset", json={"seed": -1}).status_code == 422


def test_reset_then_step_is_a_clear_409_that_says_how_to_run_an_episode(http):
    assert http.post("/reset", json={"task_id": "phase2_core"}).status_code == 200
    r = http.post("/step", json={"action": {"action_type": "do_nothing"}})
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert detail["error"] == "no_episode" and "/ws" in detail["message"] and "/episodes" in detail["message"]
    assert set(detail["how_to"]) == {"websocket", "http"}
    # shape errors are still 422 first
    assert http.post("/step", json={"action": {"action_type": "teleport"}}).status_code == 422
    # ... and with an /episodes id, POST /step steps that episode
    ep = new_episode(http, task_id="phase2_core")
    r = http.post("/step", json={"episode_id": ep["id"], "action": {"action_type": "do_nothing"}})
    assert r.status_code == 200 and r.json()["observation"]["step"] == 1
    r = http.post("/step", json={"episode_id": "not-a-real-id", "action": {"action_type": "do_nothing"}})
    assert r.status_code == 404 and r.json()["detail"]["error"] == "unknown_episode"


def test_episode_lifecycle(http):
    ep = new_episode(http, task_id="phase2_core", seed=2, episode_id="mine")
    eid = ep["id"]
    assert len(eid) >= 32 and ep["observation"]["episode_id"] == "mine" and ep["observation"]["step"] == 0
    assert ep["idle_ttl_s"] == TTL
    r = http.post(f"/episodes/{eid}/step", json={"action": {"action_type": "archive_email", "email_id": "nope"}})
    assert r.status_code == 200
    step = r.json()
    assert step["observation"]["step"] == 1 and step["observation"]["step_ok"] is False and "nope" in step["observation"]["error"]
    assert step["reward"] == pytest.approx(step["observation"]["breakdown"]["total"])
    # shape errors: 422, no time passes
    for bad in (
        {"action_type": "teleport"},
        {"action_type": "reply_email"},
        {"action_type": "do_nothing", "x": 1},
        {"action_type": "complete_task", "task_id": []},
    ):
        r = http.post(f"/episodes/{eid}/step", json={"action": bad})
        assert r.status_code == 422, (bad, r.text)
    assert http.post(f"/episodes/{eid}/step", json={"act": {}}).status_code == 422
    view = http.get(f"/episodes/{eid}").json()
    assert view["step"] == 1 and view["task_id"] == "phase2_core" and view["done"] is False
    assert "GHOSTEXEC BRIEFING" in view["observation"]["briefing"] and view["observation"]["breakdown"]["components"]
    assert 0.01 < view["grade"]["score"] < 0.99 and view["grade"]["final"] is False
    assert view["state"]["world"]["emails"] and len(view["state"]["state_hash"]) == 64
    # same seed in process: same world
    sim = ghostexec.Simulation()
    sim.reset(task_id="phase2_core", seed=2, episode_id="mine")
    sim.step({"action_type": "archive_email", "email_id": "nope"})
    assert view["state"]["state_hash"] == sim.state_hash()
    # run to the end; stepping past it is a clear 409
    budget = view["observation"]["steps_remaining"]
    for _ in range(budget):
        last = http.post(f"/episodes/{eid}/step", json={"action": {"action_type": "do_nothing"}}).json()
    assert last["done"] is True and last["observation"]["grade"]["final"] is True
    r = http.post(f"/episodes/{eid}/step", json={"action": {"action_type": "do_nothing"}})
    assert r.status_code == 409 and r.json()["detail"]["error"] == "step_refused" and "over" in r.json()["detail"]["message"]
    r = http.delete(f"/episodes/{eid}")
    assert r.status_code == 200 and r.json()["deleted"] is True and r.json()["grade"]["final"] is True
    for method, path in (("GET", f"/episodes/{eid}"), ("DELETE", f"/episodes/{eid}"), ("POST", f"/episodes/{eid}/step")):
        r = http.request(method, path, json={"action": {"action_type": "do_nothing"}} if method == "POST" else None)
        assert r.status_code == 404, (method, r.text)
        assert r.json()["detail"]["error"] == "unknown_episode" and "POST /episodes" in r.json()["detail"]["message"]


def test_episode_create_errors(http):
    for bad, status, code in (
        ({"task_id": "nope"}, 422, "unknown_task"),
        ({"scenario": {"id": "x"}}, 422, "invalid_scenario"),
    ):
        r = http.post("/episodes", json=bad)
        assert r.status_code == status and r.json()["detail"]["error"] == code
    for bad in ({"seed": -1}, {"bogus": True}, {"task_id": 5}, [1, 2]):
        assert http.post("/episodes", json=bad).status_code == 422, bad
    assert http.get("/capacity").json()["episodes"]["live"] == 0, "refused creations hold no slot"


def test_episode_bound_and_idle_expiry(http):
    ids = [new_episode(http)["id"] for _ in range(4)]
    r = http.post("/episodes", json={})
    assert r.status_code == 503 and r.json()["detail"]["error"] == "too_many_episodes"
    assert "DELETE" in r.json()["detail"]["message"]
    assert http.delete(f"/episodes/{ids[0]}").status_code == 200
    keep = new_episode(http)["id"]
    deadline = time.monotonic() + TTL + 0.3
    while time.monotonic() < deadline:  # keep one alive by using it
        assert http.get(f"/episodes/{keep}").status_code == 200
        time.sleep(0.3)
    time.sleep(0.2)
    for eid in ids[1:]:
        r = http.get(f"/episodes/{eid}")
        assert r.status_code == 404 and "expired" in r.json()["detail"]["message"]
    assert http.get(f"/episodes/{keep}").status_code == 200
    assert http.get("/capacity").json()["episodes"]["live"] == 1


def test_bad_http_input_is_a_4xx_never_a_500(http):
    big = json.dumps({"action": {"action_type": "reply_email", "email_id": "e01", "body": "x" * 300_000}})
    ep = new_episode(http)["id"]
    cases = [
        ("POST", "/step", {"content": "{not json", "headers": {"content-type": "application/json"}}, 422),
        ("POST", "/step", {"json": {"action": "do_nothing"}}, 422),
        ("POST", "/step", {"json": {}}, 422),
        ("POST", "/step", {"json": {"action": {"action_type": "do_nothing", "zz": 1}}}, 422),
        ("POST", "/reset", {"content": "[[[", "headers": {"content-type": "application/json"}}, 422),
        ("POST", "/episodes", {"content": "{", "headers": {"content-type": "application/json"}}, 422),
        ("POST", f"/episodes/{ep}/step", {"content": "nope", "headers": {"content-type": "application/json"}}, 422),
        ("POST", f"/episodes/{ep}/step", {"json": {"action": {"action_type": 42}}}, 422),
        ("POST", "/step", {"content": big, "headers": {"content-type": "application/json"}}, 413),
        ("POST", f"/episodes/{ep}/step", {"content": big, "headers": {"content-type": "application/json"}}, 413),
        # chunked (no Content-Length): buffered up to the limit
        (
            "POST",
            f"/episodes/{ep}/step",
            {"content": iter([big[:150_000].encode(), big[150_000:].encode()]), "headers": {"content-type": "application/json"}},
            413,
        ),
    ]
    for method, path, kwargs, status in cases:
        r = http.request(method, path, **kwargs)
        assert r.status_code == status, (path, kwargs.get("json"), r.status_code, r.text[:300])
        assert isinstance(r.json()["detail"], list | dict)
    small = json.dumps({"action": {"action_type": "do_nothing"}})
    r = http.post(
        f"/episodes/{ep}/step",
        content=iter([small[:10].encode(), small[10:].encode()]),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["observation"]["step"] == 1, "chunked bodies under the limit pass"
    assert http.post("/mcp", json={}).status_code == 200


def test_openenv_validate_url_passes_every_criterion(server):
    exe = Path(sys.executable).with_name("openenv")
    cmd = [str(exe)] if exe.exists() else [shutil.which("openenv") or "openenv"]
    out = subprocess.run([*cmd, "validate", "--url", server], capture_output=True, text=True, timeout=120)
    report = json.loads(out.stdout)
    assert report["passed"] is True, out.stdout
    ids = {c["id"]: c["passed"] for c in report["criteria"]}
    assert ids == {
        "openapi_version_available": True,
        "health_endpoint": True,
        "metadata_endpoint": True,
        "schema_endpoint": True,
        "mcp_endpoint": True,
        "mode_endpoint_consistency": True,
    }
    assert out.returncode == 0


def test_odd_bodies_on_every_route_never_500(http):
    ep = new_episode(http)["id"]
    bodies = [
        None,
        "null",
        "[]",
        '"text"',
        "1e999",
        "{}",
        '{"action": null}',
        '{"action": []}',
        '{"action": {"action_type": null}}',
        '{"action": {"action_type": "reply_email", "email_id": null, "body": null}}',
        '{"action": {"action_type": "reschedule_meeting", "meeting_id": "m01", "new_start": "yesterday"}}',
        '{"task_id": null, "seed": null}',
        '{"seed": true}',
        '{"seed": 1.5}',
        '{"seed": 99999999999999999999999}',
        '{"episode_id": 5}',
        '{"scenario": {}}',
        '{"scenario": []}',
        '{"scenario": {"id": "x", "contacts": [{"id": 1}]}}',
        "[" * 5000 + "]" * 5000,
        '{"a": ' * 200 + "1" + "}" * 200,
        "\xff\xfe",
    ]
    for path in ("/reset", "/step", "/episodes", f"/episodes/{ep}/step"):
        for body in bodies:
            content = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else b""
            r = http.post(path, content=content, headers={"content-type": "application/json"})
            assert r.status_code < 500, (path, body[:80] if body else body, r.status_code, r.text[:300])
            if path == "/episodes" and r.status_code == 201:
                http.delete(f"/episodes/{r.json()['id']}")
    assert http.get(f"/episodes/{ep}").status_code == 200
