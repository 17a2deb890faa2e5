"""The soak benchmark, small (20 sessions x 20 steps, WS and MCP mixed) as a CI test: every step
completes, zero errors, zero leaked sessions or episodes. The full run is `python bench/soak.py`
(200 x 200); its numbers are in docs/security.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_small_soak_has_no_errors_and_no_leaks():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--sessions", "20", "--steps", "20"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("  ") and line.split()}
    assert "400 of 400" in lines["steps"]
    assert lines["leaked"].split()[1] == "0" and lines["errors"].split()[1] == "0"
    assert "10 WS + 10 MCP sessions" in out.stdout
