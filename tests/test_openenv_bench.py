"""Smoke test of bench/ws_bench.py with tiny counts (numbers are not checked: it is not a pass/fail bench)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ws_bench_runs_and_reports_both_servers(tmp_path):
    out_json = tmp_path / "bench.json"
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "ws_bench.py"),
            "--steps",
            "20",
            "--seconds",
            "0.3",
            "--sessions",
            "1",
            "3",
            "--spin-us",
            "0",
            "--json",
            str(out_json),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "floor (echo env)" in out.stdout and "ghostexec / floor median" in out.stdout
    assert "event loop: polls up to 0 µs" in out.stdout
    results = json.loads(out_json.read_text())
    assert results["params"]["spin_us"] == 0
    for kind in ("floor", "ghostexec"):
        assert results[kind]["sequential"]["steps"] == 20
        assert [c["sessions"] for c in results[kind]["concurrent"]] == [1, 3]
        assert all(c["steps"] > 0 for c in results[kind]["concurrent"])


def test_ws_ceiling_runs_both_environments_in_process():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ws_ceiling.py"), "--sessions", "1", "3", "--seconds", "0.2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [line.split() for line in out.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == ["1", "3"]
    for r in rows:
        echo, ghost = float(r[1]), float(r[2])
        assert echo > 0 and ghost > 0 and abs(float(r[3]) - ghost / echo) <= 0.011


def test_cold_bench_reports_warm_and_disturbed_steps_against_its_warm_mean():
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "cold_bench.py"),
            "--seconds", "0.4",
            "--evict-mb", "1",
            "--gap-us", "100",
            "--sessions", "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {}
    for line in out.stdout.splitlines():
        for label in ("nothing (warm)", "read 1 MB", "sleep 100 µs"):
            if line.startswith(label):
                rows[label] = line[len(label) :].split()
    assert set(rows) == {"nothing (warm)", "read 1 MB", "sleep 100 µs"}, out.stdout
    warm = float(rows["nothing (warm)"][1].removesuffix("µs"))
    assert rows["nothing (warm)"][-1] == "1.00x"
    for cells in rows.values():
        echo, mean = (float(c.removesuffix("µs")) for c in cells[:2])
        assert echo > 0 and mean > 0
        assert abs(float(cells[-1].removesuffix("x")) - mean / warm) <= 0.006
