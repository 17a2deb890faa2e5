"""The client configuration snippets in docs/mcp.md (and README.md, once copied there), run verbatim.

Only two substitutions: `/ABSOLUTE/PATH/TO/ghostexec` becomes this checkout, and port 8000 a free
port. Each snippet's command line is launched exactly as written (or, for URLs, the documented
`ghostexec serve --port 8000` is started and the documented URL used), then initialize + tools/list
and a look at the briefing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from ghostexec.actions import ACTION_TYPES
from mcp_server import BRIEFING_URI
from mcp_server.testing import ROOT, free_port, serve_in_subprocess

DOC = os.path.join(ROOT, "docs", "mcp.md")
DOCS = [DOC, os.path.join(ROOT, "README.md")]
PLACEHOLDER = "/ABSOLUTE/PATH/TO/ghostexec"
TOOLS_BIN = os.path.join(ROOT, "tools", "mcp", "node_modules", ".bin")


def doc_blocks(lang: str) -> list[str]:
    """Fenced blocks of this language in docs/mcp.md and README.md, in order."""
    blocks = []
    for path in DOCS:
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                blocks += re.findall(rf"```{lang}\n(.*?)```", f.read(), flags=re.S)
    return blocks


def entries() -> list[dict]:
    """Every server entry of every `mcpServers` JSON snippet, in document order."""
    found = []
    for block in doc_blocks("json"):
        if '"mcpServers"' in block:
            found.extend(json.loads(block)["mcpServers"].values())
    return found


def stdio_entry() -> dict:
    return next(e for e in entries() if e.get("command", "").endswith("/ghostexec"))


def npx_entry() -> dict:
    return next(e for e in entries() if e.get("command") == "npx")


def url_entry() -> dict:
    return next(e for e in entries() if "url" in e)


def claude_commands() -> list[list[str]]:
    return [shlex.split(line) for block in doc_blocks("bash") for line in block.splitlines() if line.startswith("claude mcp add")]


def local(s: str, port: int | None = None) -> str:
    s = s.replace(PLACEHOLDER, ROOT)
    return s.replace(":8000", f":{port}") if port else s


async def exercise(target, mode: str) -> None:
    async with Client(target, mode=mode) as c:
        names = [t.name for t in (await c.list_tools()).tools]
        assert names[: len(ACTION_TYPES)] == list(ACTION_TYPES) and "start_episode" in names
        briefing = (await c.read_resource(BRIEFING_URI)).contents[0].text
        if "GHOSTEXEC BRIEFING" not in briefing:  # a stateless client at the lobby URL: no episode yet
            assert "start_episode" in briefing
            url = (await c.call_tool("start_episode", {"task_id": "monday_morning", "seed": 7})).structured_content["url"]
            async with Client(url, mode=mode) as ep:
                assert (await ep.call_tool("do_nothing", {})).structured_content["step"] == 1
                briefing = (await ep.read_resource(BRIEFING_URI)).contents[0].text
        assert "GHOSTEXEC BRIEFING" in briefing


def ghostexec_binary() -> str:
    exe = local(stdio_entry()["command"])
    if not os.path.exists(exe):
        pytest.skip(f"{exe} does not exist: create the venv with `python3 dev.py test` (the documented setup)")
    return exe


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_claude_desktop_stdio_snippet(mode):
    ghostexec_binary()
    stdio = [e for e in entries() if e.get("command", "").endswith("/ghostexec")]
    assert stdio and stdio[0]["args"] == ["mcp", "--task", "monday_morning", "--seed", "7"]
    for entry in stdio:
        command, args = local(entry["command"]), [local(a) for a in entry["args"]]
        anyio.run(exercise, StdioServerParameters(command=command, args=args), mode)


def test_claude_code_stdio_command():
    ghostexec_binary()
    commands = [c for c in claude_commands() if "--" in c]
    assert commands
    for cmd in commands:
        argv = [local(a) for a in cmd[cmd.index("--") + 1 :]]
        assert argv[0] == local(stdio_entry()["command"])
        anyio.run(exercise, StdioServerParameters(command=argv[0], args=argv[1:]), "legacy")


@pytest.fixture(scope="module")
def documented_server():
    """Exactly the documented `ghostexec serve --port 8000`, on a free port."""
    exe = ghostexec_binary()
    with open(DOC, encoding="utf-8") as f:
        assert "`ghostexec serve --port 8000`" in f.read()  # the command the remote snippets assume
    port = free_port()
    with serve_in_subprocess([exe, "serve", "--port", str(port)], port) as base:
        yield port, base


def test_remote_url_snippets(documented_server):
    port, _ = documented_server
    json_url = local(url_entry()["url"], port)
    urls = {local(e["url"], port) for e in entries() if "url" in e}
    assert all(e["type"] == "http" for e in entries() if "url" in e)
    for cli in (c for c in claude_commands() if "--transport" in c):
        assert cli[cli.index("--transport") + 1] == "http"
        urls.add(local(cli[-1], port))
    assert json_url in urls
    for url in sorted(urls):
        for mode in ("legacy", "auto"):
            anyio.run(exercise, url, mode)


def test_claude_desktop_remote_snippet_via_mcp_remote(documented_server):
    port, _ = documented_server
    entry = npx_entry()
    assert local(entry["args"][-1], port) == local(url_entry()["url"], port)
    if not os.path.exists(os.path.join(TOOLS_BIN, "mcp-remote")) or shutil.which("npx") is None:
        pytest.skip("mcp-remote not installed: run scripts/mcp_conformance.sh (installs tools/mcp) with npm available")
    args = [local(a, port) for a in entry["args"]]
    env = {**os.environ, "PATH": TOOLS_BIN + os.pathsep + os.environ.get("PATH", "")}
    # Run from tools/mcp, so npx resolves the pinned local mcp-remote instead of downloading it.
    params = StdioServerParameters(command="npx", args=args, cwd=os.path.join(ROOT, "tools", "mcp"), env=env)
    anyio.run(exercise, params, "legacy")


def test_stdio_unknown_task_fails_cleanly_with_nothing_on_stdout():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "mcp_server", "--task", "no_such_task"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": ROOT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert "no_such_task" in out.stderr


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")
@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_stdio_resource_updated_notifications(mode):
    from mcp.shared.subscriptions import ResourceUpdated

    from mcp_server.testing import stdio_params

    got: list[str] = []

    async def on_message(message):
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/resources/updated":
            got.append(str(root.params.uri))

    async def go():
        async with Client(stdio_params("monday_morning", 7), mode=mode, message_handler=on_message) as c:
            assert c.server_capabilities.resources.subscribe is True
            if mode == "legacy":
                await c.session.subscribe_resource(BRIEFING_URI)
                await c.call_tool("do_nothing", {})
                with anyio.fail_after(5):
                    while not got:
                        await anyio.sleep(0.02)
                assert got == [BRIEFING_URI]
            else:
                async with c.listen(resource_subscriptions=[BRIEFING_URI]) as sub:
                    await c.call_tool("do_nothing", {})
                    with anyio.fail_after(5):
                        assert await sub.__anext__() == ResourceUpdated(uri=BRIEFING_URI)

    anyio.run(go)
