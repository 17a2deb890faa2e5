"""Fuzzing the running app (issue #6).

- schemathesis generates requests from the served OpenAPI schema for every operation (OpenEnv's
  routes, /reset, /step, the /episodes routes, /capacity ...), both valid and invalid ones: zero 5xx,
  and every 4xx carries a useful JSON message. Episode routes are pointed at a real live episode for
  part of the cases, so the stepping path is fuzzed too, not just the 404.
- A JSON-RPC fuzz of the MCP endpoints (/mcp-std/ and the shared /mcp): malformed frames, wrong
  types, huge strings, unknown methods, batches, bytes that are not JSON; the server answers with
  an HTTP 4xx or a JSON-RPC error, never a 5xx, and an initialised session still answers `ping`
  after every frame.
After each test nothing is left live (sessions, episodes)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from reliability import live_app_fixtures
from schemathesis.generation import GenerationMode

from mcp_server.testing import INIT, MCP_ACCEPT

CASES_PER_OPERATION = 25  # x2 modes (valid, invalid) x 13 operations: ~300 requests
MCP_FRAMES = 150


live, _no_leaks = live_app_fixtures()


def _useful_message(body: Any) -> bool:
    """A 4xx body says what is wrong: FastAPI's `detail` (text, a list of field errors, or our
    {"error", "message"}), or an MCP-side {"error": ...}."""
    if not isinstance(body, dict):
        return False
    detail = body.get("detail", body.get("error"))
    if isinstance(detail, str):
        return bool(detail.strip())
    if isinstance(detail, dict):
        return bool(str(detail.get("message") or detail.get("error") or "").strip())
    if isinstance(detail, list):
        return bool(detail) and all(isinstance(d, dict) and d.get("msg") and "loc" in d for d in detail)
    return False


def test_openapi_fuzz_no_5xx_and_every_4xx_explains(live):
    url, app = live
    schema = schemathesis.openapi.from_url(url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = sorted(op.label for op in operations)
    assert {"POST /episodes", "POST /episodes/{episode_id}/step", "GET /episodes/{episode_id}", "POST /step"} <= set(labels)
    session = requests.Session()
    seen: dict[int, int] = {}
    problems: list[str] = []

    def fresh_episode() -> str:
        r = session.post(url + "/episodes", json={"task_id": "phase2_core"})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    calls = {"n": 0}
    for op in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = op.as_strategy(generation_mode=mode)
            except Exception:  # an operation with nothing to negate (no parameters, no body)
                if mode is GenerationMode.NEGATIVE:
                    continue
                raise

            @settings(
                max_examples=CASES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case: Any) -> None:
                calls["n"] += 1
                live_id = None
                if "episode_id" in (case.path_parameters or {}) and calls["n"] % 2 == 0:
                    live_id = fresh_episode()  # half the cases hit a real episode
                    case.path_parameters["episode_id"] = live_id
                response = case.call(base_url=url, session=session, timeout=30)
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                where = f"{case.method} {case.formatted_path} -> {response.status_code}"
                if response.status_code >= 500:
                    problems.append(f"{where}: {response.text[:300]}")
                elif response.status_code >= 400:
                    try:
                        body = response.json()
                    except ValueError:
                        body = None
                    if not _useful_message(body):
                        problems.append(f"{where}: 4xx without a useful message: {response.text[:300]}")
                if response.status_code == 201 and case.operation.label == "POST /episodes":
                    live_id = response.json()["id"]
                if live_id is not None:
                    session.delete(f"{url}/episodes/{live_id}")

            try:
                run()
            except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
                assert mode is GenerationMode.NEGATIVE, op.label
    session.close()
    total = sum(seen.values())
    assert not problems, "\n".join(problems[:20])
    print(f"\nschemathesis: {total} requests over {len(labels)} operations, status codes {dict(sorted(seen.items()))}")
    assert total >= 250, f"only {total} requests generated"
    assert any(400 <= code < 500 for code in seen) and any(code < 300 for code in seen), seen
    app.state.episode_store.close_all()  # POST /reset and friends keep nothing; /episodes ones were deleted


# ---------------------------------------------------------------------------------- JSON-RPC fuzz
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_value = st.recursive(
    json_leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12
)
methods = st.sampled_from(
    [
        "initialize",
        "ping",
        "tools/list",
        "tools/call",
        "resources/read",
        "resources/subscribe",
        "prompts/get",
        "server/discover",
        "subscriptions/listen",
        "notifications/initialized",
        "no/such/method",
        "",
        "rpc.discover",
    ]
) | st.text(max_size=20)
frames = st.one_of(
    # well-formed envelopes with wrong or random params
    st.fixed_dictionaries(
        {"jsonrpc": st.sampled_from(["2.0", "1.0", 2, None]), "method": methods},
        optional={"id": st.one_of(st.integers(), st.text(max_size=10), st.none(), st.lists(st.integers())), "params": json_value},
    ),
    # tools/call with arguments of the wrong type, unknown tools, huge strings
    st.builds(
        lambda name, args, n: {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name, "arguments": args}},
        st.sampled_from(["do_nothing", "reply_email", "start_episode", "nope"]) | st.text(max_size=10),
        json_value | st.builds(lambda k: {"body": "x" * k, "email_id": "e01"}, st.integers(0, 200_000)),
        st.integers(),
    ),
    st.lists(json_value, max_size=5),  # batches of anything
    json_value,  # any JSON at all
)
raw_bodies = st.one_of(
    st.binary(max_size=200),  # not JSON, maybe not UTF-8
    st.builds(lambda f, cut: json.dumps(f)[:cut], frames, st.integers(0, 40)),  # truncated JSON
    st.builds(lambda n: '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"' + "y" * n + '"}}', st.integers(0, 300_000)),
)


def _answered_sanely(r: httpx.Response) -> str | None:
    if r.status_code >= 500:
        return f"{r.status_code}: {r.text[:300]}"
    if r.status_code >= 400 and r.status_code not in (404, 405, 406, 413, 415):
        try:
            body = r.json()
        except ValueError:
            return f"{r.status_code} without a JSON error: {r.text[:200]}"
        if not (isinstance(body, dict) and (body.get("error") or body.get("detail"))):
            return f"{r.status_code} without an error message: {r.text[:200]}"
    return None


def test_jsonrpc_fuzz_of_the_mcp_endpoints_keeps_serving(live):
    url, app = live
    http = httpx.Client(base_url=url, timeout=30)
    opened = http.post("/mcp-std/", json=INIT, headers=MCP_ACCEPT)
    assert opened.status_code == 200
    sid = opened.headers["mcp-session-id"]
    in_session = {**MCP_ACCEPT, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"}
    http.post("/mcp-std/", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=in_session)
    problems: list[str] = []
    ping_id = iter(range(10**6, 10**7))
    codes: dict[tuple[str, int], int] = {}

    def still_serving() -> None:
        pid = next(ping_id)
        r = http.post("/mcp-std/", json={"jsonrpc": "2.0", "id": pid, "method": "ping"}, headers=in_session)
        assert r.status_code == 200 and f'"id":{pid}' in r.text.replace(" ", ""), r.text[:300]

    @settings(max_examples=MCP_FRAMES, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(frame=frames | raw_bodies, where=st.sampled_from(["lobby", "session", "shared", "episode-url"]))
    def one(frame: Any, where: str) -> None:
        body = frame if isinstance(frame, bytes) else (frame.encode() if isinstance(frame, str) else json.dumps(frame).encode())
        if where == "lobby":
            r = http.post("/mcp-std/", content=body, headers=MCP_ACCEPT)
        elif where == "session":
            r = http.post("/mcp-std/", content=body, headers=in_session)
        elif where == "shared":  # /mcp without MCP headers goes to OpenEnv's JSON-RPC handler
            r = http.post("/mcp", content=body, headers={"Content-Type": "application/json"})
        else:
            r = http.post("/mcp-std/episodes/fuzz-day/", content=body, headers=MCP_ACCEPT)
        codes[(where, r.status_code)] = codes.get((where, r.status_code), 0) + 1
        if (why := _answered_sanely(r)) is not None:
            problems.append(f"{where} {body[:120]!r}: {why}")
        still_serving()

    one()
    # A fresh client can still open a session, and a real tool call still works.
    assert http.post("/mcp-std/", json=INIT, headers=MCP_ACCEPT).status_code == 200
    r = http.post(
        "/mcp-std/",
        json={"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "do_nothing", "arguments": {}}},
        headers=in_session,
    )
    assert r.status_code == 200 and '"isError":false' in r.text.replace(" ", ""), r.text[:300]
    print(f"\nMCP JSON-RPC fuzz: {sum(codes.values())} frames, (endpoint, status) counts {dict(sorted(codes.items()))}")
    assert not problems, "\n".join(problems[:20])
    assert sum(codes.values()) >= MCP_FRAMES and len({w for w, _ in codes}) == 4
    # Clean up: end the sessions we opened, drop the named episode the fuzz may have created.
    for session_id in list(app.state.mcp.session_manager._server_instances):
        http.delete("/mcp-std/", headers={**MCP_ACCEPT, "mcp-session-id": session_id, "mcp-protocol-version": "2025-11-25"})
    app.state.mcp.registry.drop("fuzz-day")
    http.close()
