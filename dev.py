#!/usr/bin/env python3
"""One entry point that sets itself up: `python3 dev.py serve` and `python3 dev.py test`.

Needs only Python 3.11+. On first use it creates ./.venv and installs the project with the exact
versions in constraints.txt; later runs reuse it (reinstalling only when pyproject.toml or
constraints.txt change). Everything after the sub-command is passed through:

    python3 dev.py serve --port 8000 --task monday_morning
    python3 dev.py test -k reward -x
    python3 dev.py run ghostexec play --task phase2_core     # any command inside the venv
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".ghostexec-install-stamp"


def _fingerprint() -> str:
    h = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def ensure_env() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs under whatever python3 the user has
        sys.exit(f"Ghostexec needs Python 3.11+, this is {sys.version.split()[0]}")
    if not PY.exists():
        print(f"[dev] creating virtualenv in {VENV}", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    print("[dev] installing ghostexec and its pinned dependencies (first run takes ~1 minute)", file=sys.stderr)
    pip = [str(PY), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-c", str(ROOT / "constraints.txt"), "-e", f"{ROOT}[server,test]"], check=True)
    STAMP.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__)
        return 0
    cmd, rest = argv[0], argv[1:]
    ensure_env()
    os.chdir(ROOT)
    if cmd == "serve":
        return subprocess.call([str(BIN / "ghostexec"), "serve", *rest])
    if cmd == "test":
        lint = subprocess.call([str(PY), "-m", "ruff", "check", "."])
        tests = subprocess.call([str(PY), "-m", "pytest", *(rest or ["-q"])])
        if lint:
            print("[dev] ruff found problems (see above)", file=sys.stderr)
        return tests or lint
    if cmd == "run":
        if not rest:
            sys.exit("usage: python3 dev.py run COMMAND [ARGS...]")
        exe = BIN / rest[0]
        return subprocess.call([str(exe) if exe.exists() else rest[0], *rest[1:]])
    sys.exit(f"unknown command {cmd!r}; use serve, test or run")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
