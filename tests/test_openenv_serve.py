"""Packaging: the Dockerfile's exact command, run locally (no Docker engine), and the documented
client example, run against a live server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from openenv_server.client import GhostexecEnv
from openenv_server.testing import free_port, running_server, stop_process, wait_for_http

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_is_a_non_root_space_image_with_a_healthcheck():
    ins = dockerfile_instructions()
    assert ins[0] == ("FROM", "python:3.11-slim")
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert ("EXPOSE", "7860") in ins
    env = " ".join(rest for word, rest in ins if word == "ENV")
    assert "PORT=7860" in env
    health = [rest for word, rest in ins if word == "HEALTHCHECK"]
    assert len(health) == 1 and "/health" in health[0]
    assert any(word == "RUN" and "constraints.txt" in rest for word, rest in ins)


def _json_form(rest: str) -> list[str]:
    cmd = json.loads(rest)
    assert isinstance(cmd, list) and all(isinstance(x, str) for x in cmd)
    return cmd


def test_the_images_exact_command_serves_the_app_and_passes_openenv_validate():
    ins = dockerfile_instructions()
    cmd = _json_form([rest for word, rest in ins if word == "CMD"][-1])
    assert "ghostexec serve" in " ".join(cmd) and "${PORT:-7860}" in " ".join(cmd) and "0.0.0.0" in " ".join(cmd)
    health = next(rest for word, rest in ins if word == "HEALTHCHECK")
    health_cmd = _json_form(health[health.index("CMD") + 3 :].strip())

    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",  # the image binds 0.0.0.0; here, loopback only
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GHOSTEXEC_MAX_SESSIONS": "5",
    }
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_for_http(base + "/health", timeout_s=60, proc=proc)
        except RuntimeError as exc:
            pytest.fail(f"the image command did not serve /health: {exc}")
        assert httpx.get(base + "/capacity").json()["sessions"]["max"] == 5, "GHOSTEXEC_* variables apply"
        health_cmd = [str(BIN / "python") if health_cmd[0] == "python" else health_cmd[0], *health_cmd[1:]]
        assert subprocess.run(health_cmd, env=env, timeout=30).returncode == 0, "HEALTHCHECK command"
        report = subprocess.run([str(BIN / "openenv"), "validate", "--url", base], capture_output=True, text=True, timeout=120)
        assert json.loads(report.stdout)["passed"] is True, report.stdout
        with GhostexecEnv(base_url=base).sync() as client:
            result = client.reset(task_id="phase2_core")
            assert client.step({"action_type": "do_nothing"}).observation.step == 1 and not result.done
    finally:
        stop_process(proc, timeout_s=15)


def _doc_example(name: str) -> str:
    if name == "docs/openenv.md":
        pattern = r"<!-- example:client -->\s*```python\n(.*?)```"
    else:  # README.md: the first python block of the OpenEnv section
        pattern = r"## Use it over OpenEnv.*?```python\n(.*?)```"
    match = re.search(pattern, (ROOT / name).read_text(), re.S)
    assert match, f"{name} has the OpenEnv client example"
    return match.group(1)


@pytest.mark.parametrize("doc", ["docs/openenv.md", "README.md"])
def test_the_documented_client_example_runs(doc):
    code = _doc_example(doc)
    assert "GhostexecEnv" in code and "http://127.0.0.1:8000" in code
    with running_server() as url:
        out = subprocess.run(
            [sys.executable, "-c", code.replace("http://127.0.0.1:8000", url)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "GHOSTEXEC BRIEFING" in out.stdout


def test_waiting_for_a_server_that_exits_fails_at_once_with_its_stderr():
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stderr.write('bad config'); sys.exit(3)"], stderr=subprocess.PIPE, text=True
    )
    with pytest.raises(RuntimeError, match="exited with code 3: bad config"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/health", timeout_s=60, proc=proc)
    hung = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stderr=subprocess.PIPE)
    with pytest.raises(RuntimeError, match=r"did not answer 200 within 0\.5 s"):
        wait_for_http(f"http://127.0.0.1:{free_port()}/health", timeout_s=0.5, proc=hung)
    assert hung.poll() is not None  # killed, not left running
