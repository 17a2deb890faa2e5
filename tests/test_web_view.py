"""The web view at /web, in a real headless browser (Debian's chromium driven by Playwright).

The server is the real app (`ghostexec.cli.create_app`) on a free 127.0.0.1 port, with a bearer
token set, so the page is also shown to work behind `GHOSTEXEC_TOKEN` (opened as /web?token=...).
The browser plays three actions through the forms and the charts, calendar and briefing must
follow; a trajectory written by `ghostexec eval` is replayed step by step, and a tampered copy must
be flagged at the step that was changed. Every request the page makes must stay on the server.

Chromium comes from Debian (`apt-get install chromium`; .ci/run installs it). If it is missing the
test tries that install itself and skips, saying why, only where it cannot be installed.
Screenshots go to the test's tmp dir; set GHOSTEXEC_WEB_SHOTS=DIR to keep them (docs/img/web.png
is made that way).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from ghostexec.cli import create_app
from ghostexec.cli import main as ghostexec_main
from openenv_server.app import Settings
from openenv_server.testing import running_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 15_000


def _ensure_chromium() -> str | None:
    """Path of Debian's chromium, installing it with apt-get if needed; None (with the reason in
    `_why`) only where that is impossible."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        _why.append(f"{CHROMIUM} is missing and apt-get is {'absent' if apt is None else 'not usable without root'}")
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update", "-qq"], [apt, "install", "-y", "-qq", "chromium"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            _why.append(f"`{' '.join(cmd)}` failed: {proc.stderr.strip()[-300:]}")
            return None
    return CHROMIUM if os.path.exists(CHROMIUM) else None


_why: list[str] = []


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright  # test extra; pinned in constraints.txt

    path = _ensure_chromium()
    if path is None:
        pytest.skip("no headless browser: " + "; ".join(_why) + " (install Debian's chromium to run this test)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server():
    token = secrets.token_urlsafe(12)
    settings = Settings.from_env(log_level="warning", token=token)
    with running_server(create_app(settings), settings) as base:
        yield base, token


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    keep = os.environ.get("GHOSTEXEC_WEB_SHOTS")
    out = Path(keep) if keep else tmp_path
    out.mkdir(parents=True, exist_ok=True)
    return out


def _open(browser, base: str, token: str):
    page = browser.new_page(viewport={"width": 1440, "height": 1100})
    page.set_default_timeout(TIMEOUT_MS)
    seen: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # (Chromium also logs every 4xx answer as a console error; the page reports those itself.)
    page.on(
        "console",
        lambda m: (
            problems.append(f"console: {m.text}") if m.type == "error" and "Failed to load resource" not in m.text else None
        ),
    )
    page.goto(f"{base}/?token={token}")  # / redirects to /web, keeping the token
    assert page.url.startswith(f"{base}/web?token=")
    page.wait_for_selector("#task option[value='phase2_core']", state="attached")
    return page, seen, problems


def _bars(page) -> int:
    return int(page.get_attribute("#reward-chart svg", "data-bars"))


def _points(page) -> int:
    return page.locator("#stress-chart circle.pt").count()


def _cal(page) -> dict[str, str]:
    """Calendar item id -> its class list (which says whether it is in a conflict)."""
    return page.eval_on_selector_all(
        "#calendar g.cal-item", "els => Object.fromEntries(els.map(e => [e.dataset.id, e.getAttribute('class')]))"
    )


def _wait_steps(page, n: int) -> None:
    page.wait_for_selector(f"#reward-chart svg[data-bars='{n}']", state="attached")


def test_page_needs_the_token_and_makes_no_outside_request(server):
    base, token = server
    assert httpx.get(f"{base}/web").status_code == 401
    assert httpx.get(f"{base}/health").status_code == 200
    page = httpx.get(f"{base}/web", params={"token": token})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    html = page.text
    assert "/*OFFICE_JS*/" not in html and "function renderCalendar" in html  # inlined: one request
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{base}/episodes/nope/view", headers=auth).status_code == 404


def test_play_three_actions_through_the_forms(browser, server, shots):
    base, token = server
    page, seen, problems = _open(browser, base, token)
    page.select_option("#task", "phase2_core")
    page.fill("#seed", "0")
    page.click("#start")
    page.wait_for_selector("#calendar g.cal-item")
    assert _bars(page) == 0 and _points(page) == 1
    briefing = [page.inner_text("#briefing")]
    assert "GHOSTEXEC BRIEFING" in briefing[0] and "Step 0 of 40" in briefing[0]
    cal0 = _cal(page)
    assert "in-conflict" in cal0["m05"]  # phase2_core starts with m04/m05 double-booked
    assert page.locator("#conflicts li").count() >= 1
    page.screenshot(path=str(shots / "web-start.png"), full_page=True)

    # 1. reply to e01 (the form offers only emails that can be answered)
    page.select_option("#action-type", "reply_email")
    offered = page.eval_on_selector_all("#f-email_id option", "os => os.map(o => o.value)")
    assert "e01" in offered
    page.select_option("#f-email_id", "e01")
    page.fill("#f-body", "Dear Margaret, I confirm the answers by Thursday 3pm. Kind regards, Dana")
    page.click("#do-step")
    _wait_steps(page, 1)
    assert "e01" not in page.eval_on_selector_all("#f-email_id option", "os => os.map(o => o.value)")
    briefing.append(page.inner_text("#briefing"))

    # 2. move m05 to a free slot the form offers: the m04/m05 conflict disappears from the calendar
    page.select_option("#action-type", "reschedule_meeting")
    page.select_option("#f-meeting_id", "m05")
    slot = page.eval_on_selector_all("#f-new_start option", "os => os.map(o => o.value)")[0]
    page.select_option("#f-new_start", slot)
    page.click("#do-step")
    _wait_steps(page, 2)
    cal2 = _cal(page)
    assert "in-conflict" in cal0["m04"] and "in-conflict" not in cal2["m04"]
    if slot[:10] == "2026-03-10":
        assert "in-conflict" not in cal2["m05"]
    else:  # today is full: the slot is tomorrow, listed under the timeline
        assert "m05" not in cal2 and page.locator("#later [data-id='m05']").count() == 1
    assert page.locator("#conflicts li[data-id*='m05']").count() == 0
    assert page.locator("#changes li").count() >= 1
    briefing.append(page.inner_text("#briefing"))

    # 3. delegate a task to someone the form says can take it
    page.select_option("#action-type", "delegate_task")
    page.click("#do-step")
    _wait_steps(page, 3)
    briefing.append(page.inner_text("#briefing"))
    page.screenshot(path=str(shots / "web.png"))
    page.screenshot(path=str(shots / "web-full.png"), full_page=True)

    assert len(set(briefing)) == 4, "the briefing must change after every step"
    assert all(f"Step {i} of 40" in b for i, b in enumerate(briefing))
    assert _points(page) == 4  # stress at step 0 plus one point per step
    assert page.locator("#steps tbody tr").count() == 3
    assert page.locator("#reward-chart g.bar rect").count() >= 3  # each bar stacks its components
    status = page.inner_text("#last-result")
    assert "delegate_task" in status and "✓" in status
    assert page.inner_text("#st-step").startswith("3 / 40")
    assert page.is_hidden("#message"), page.inner_text("#message")
    assert problems == []
    assert seen and all(u.startswith(base + "/") for u in seen), [u for u in seen if not u.startswith(base)]
    page.close()


def _trajectory(tmp_path: Path) -> tuple[dict, list[dict], dict]:
    """A real `ghostexec eval` trajectory (random policy: invalid steps included)."""
    assert (
        ghostexec_main(
            ["eval", "--policy", "random", "--task", "dinner_disaster", "--seeds", "0", "--k", "1", "--out", str(tmp_path / "ev")]
        )
        == 0
    )
    path = tmp_path / "ev" / "trajectories" / "random" / "dinner_disaster" / "seed-0.jsonl"
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return lines[0], lines[1:-1], lines[-1]


def _jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(x) + "\n" for x in lines).encode()


def _replay(page, name: str, data: bytes) -> None:
    page.click("#tab-replay")
    page.set_input_files("#replay-file", files=[{"name": name, "mimeType": "application/json", "buffer": data}])
    page.wait_for_selector("#replay-start:not([disabled])")
    page.click("#replay-start")
    page.wait_for_selector("#replay-table tbody tr")
    page.click("#replay-next")  # one step by hand, then the rest
    page.wait_for_selector("#replay-table tbody tr:nth-child(2)")
    page.click("#replay-all")
    page.locator("#replay-status", has_text="Replay done").wait_for()  # (the page's CSP forbids eval)


def test_replay_a_trajectory_and_flag_a_tampered_step(browser, server, shots, tmp_path):
    base, token = server
    head, steps, final = _trajectory(tmp_path)
    assert any(not s["step_ok"] for s in steps), "the recording should include invalid steps"
    # A shape error is refused without a step on every transport; replay must refuse it too.
    refused = {"type": "step", "index": 99, "step": steps[1]["step"], "action": {"action_type": "fly_to_mars"}, "rejected": True}
    good = [head, steps[0], refused, *steps[1:], final]

    page, seen, problems = _open(browser, base, token)
    _replay(page, "seed-0.jsonl", _jsonl(good))
    rows = page.locator("#replay-table tbody tr")
    assert rows.count() == len(steps) + 2  # the reset row, every step, the refused line
    assert page.locator("#replay-table tr.mismatch").count() == 0, page.inner_text("#replay-table")
    assert "every step matches" in page.inner_text("#replay-status")
    assert "Final state and grade match" in page.inner_text("#replay-status")
    assert _bars(page) == len(steps)  # the office followed the replay: one bar per step taken
    assert page.inner_text("#st-step").startswith(f"{len(steps)} / {len(steps)}")
    page.screenshot(path=str(shots / "web-replay.png"), full_page=True)

    # Tamper with step 5's recorded reward and state: replay must flag exactly that step.
    bad = json.loads(json.dumps(good))
    bad[6]["reward"] = bad[6]["reward"] + 0.5
    bad[6]["state_hash"] = "0" * 64
    _replay(page, "tampered.jsonl", _jsonl(bad))
    flagged = page.locator("#replay-table tr.mismatch")
    assert flagged.count() == 1
    assert flagged.get_attribute("data-index") == "5"
    text = flagged.inner_text()
    assert "state_hash" in text and "reward" in text
    assert "1 mismatch" in page.inner_text("#replay-status")

    # Not a trajectory: a precise message, no crash.
    page.set_input_files("#replay-file", files=[{"name": "x.jsonl", "mimeType": "text/plain", "buffer": b"{not json\n"}])
    page.wait_for_selector("#message:not(.hidden)")
    assert "line 1: not JSON" in page.inner_text("#message")
    assert problems == []
    assert all(u.startswith(base + "/") for u in seen)
    page.close()
