"""The simulation core (ghostexec/) stays free of web, MCP and OpenEnv code.

Only ghostexec/cli.py, the composition root, may reach the servers (lazily, inside functions).
Checked twice: dynamically (importing every other core module in a fresh interpreter leaves none
of those packages in sys.modules) and statically (no import statement anywhere in the other files,
top level or nested in a function, names them).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ghostexec

PACKAGE_DIR = Path(ghostexec.__file__).resolve().parent
FORBIDDEN = ("fastapi", "starlette", "uvicorn", "mcp", "openenv", "gradio", "httpx")
# their companion distributions, and the project's own adapters: the core must not know them either
COMPANIONS = ("fastmcp", "mcp_types", "openenv_core", "sse_starlette", "gradio_client", "mcp_server", "openenv_server")
ALLOWED = {"cli.py"}
# recursive: subpackages (ghostexec/policies/) are core too
CORE_FILES = sorted(p for p in PACKAGE_DIR.rglob("*.py") if p.relative_to(PACKAGE_DIR).as_posix() not in ALLOWED)


def _module(path: Path) -> str:
    parts = ("ghostexec", *path.relative_to(PACKAGE_DIR).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


CORE_MODULES = sorted(_module(p) for p in CORE_FILES)


def _forbidden(module: str) -> bool:
    top = module.split(".")[0]
    return top in FORBIDDEN or top in COMPANIONS


def test_core_modules_found():
    assert "ghostexec.simulation" in CORE_MODULES and "ghostexec.scenario" in CORE_MODULES
    assert "ghostexec.cli" not in CORE_MODULES
    assert len(CORE_MODULES) >= 10


def test_importing_the_core_loads_no_server_package():
    script = f"""
import importlib, json, sys
for name in {CORE_MODULES!r}:
    importlib.import_module(name)
from ghostexec import Simulation
sim = Simulation()
sim.reset(task_id="phase2_core", seed=0)
sim.step({{"action_type": "do_nothing"}})
print(json.dumps(sorted(sys.modules)))
"""
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=PACKAGE_DIR.parent)
    assert res.returncode == 0, res.stderr
    loaded = json.loads(res.stdout.strip().splitlines()[-1])
    bad = sorted(m for m in loaded if _forbidden(m))
    assert not bad, f"the core pulled in server packages: {bad}"
    assert "ghostexec.simulation" in loaded


@pytest.mark.parametrize("module", CORE_MODULES)
def test_each_core_module_alone_loads_no_server_package(module):
    script = f"import importlib, json, sys; importlib.import_module({module!r}); print(json.dumps(sorted(sys.modules)))"
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=PACKAGE_DIR.parent)
    assert res.returncode == 0, res.stderr
    bad = sorted(m for m in json.loads(res.stdout.strip().splitlines()[-1]) if _forbidden(m))
    assert not bad, f"importing {module} pulled in {bad}"


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) for every import anywhere in the tree, including inside functions and
    classes, plus importlib.import_module("...")/__import__("...") calls with a literal name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in {"import_module", "__import__"}:
                found.append((node.lineno, node.args[0].value))
    return found


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: p.relative_to(PACKAGE_DIR).as_posix())
def test_no_server_imports_in_source(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bad = [f"{path.name}:{line} imports {mod}" for line, mod in _imported_modules(tree) if _forbidden(mod)]
    assert not bad, bad


def test_the_static_check_sees_nested_and_dynamic_imports():
    tree = ast.parse(
        "def f():\n"
        "    import fastapi\n"
        "    from mcp.server import FastMCP\n"
        "class C:\n"
        "    def g(self):\n"
        "        import importlib; importlib.import_module('openenv.core')\n"
        "        __import__('httpx')\n"
        "from . import world\n"
        "from mcp_server.http import mount\n"
    )
    mods = sorted(m for _, m in _imported_modules(tree))
    assert mods == ["fastapi", "httpx", "importlib", "mcp.server", "mcp_server.http", "openenv.core"]
    assert [m for m in mods if not _forbidden(m)] == ["importlib"]
    assert not _forbidden("mcpx") and not _forbidden("ghostexec.mcp")


def test_cli_imports_servers_only_lazily():
    """cli.py may compose the servers, but only inside functions, so `import ghostexec.cli` stays light."""
    tree = ast.parse((PACKAGE_DIR / "cli.py").read_text(encoding="utf-8"))
    top_level = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    bad = [mod for _, mod in _imported_modules(ast.Module(body=top_level, type_ignores=[])) if _forbidden(mod)]
    assert not bad, bad
