"""`ghostexec` command line: the one composition root of the project.

    ghostexec serve [--host H --port P ...]      OpenEnv (HTTP + WS) and MCP (Streamable HTTP) on one port
    ghostexec mcp --task monday_morning --seed 7  MCP over stdio, one episode per process
    ghostexec play --task phase2_core             play an episode at the terminal
    ghostexec validate-scenario FILE [FILE ...]   check scenario files; exit 1 with JSON-path errors
    ghostexec schema [--check]                    write (or check) scenarios/scenario.schema.json
    ghostexec tasks                               list the shipped tasks
    ghostexec eval --policy P --task T --seeds 0-9 [--transport inproc|openenv|mcp] [--out DIR]
    ghostexec replay FILE                         re-run a trajectory, verify every hash

The adapters (openenv_server, mcp_server) are imported lazily here and nowhere else in ghostexec/,
so the simulation core stays free of web, MCP and OpenEnv imports.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, TextIO

from .scenario import SCHEMA_FILE, ScenarioError, available_tasks, load_scenario_file, load_task, scenario_json_schema


# --- serving ----------------------------------------------------------------------------------
def create_app(settings: Any = None, **overrides: Any) -> Any:
    """The whole server as one ASGI app: OpenEnv routes, /episodes, and MCP mounted beside them.
    Usable as a uvicorn factory: `uvicorn --factory ghostexec.cli:create_app`."""
    from mcp_server.http import mount
    from openenv_server.app import create_app as create_openenv_app
    from openenv_server.app import install_guards
    from openenv_server.web import register_web

    app = create_openenv_app(settings, **overrides)
    app.state.mcp = mount(app)
    register_web(app)  # the office page at /web (and / redirects there), over the same /episodes
    install_guards(app)  # token guard and body limit in front of MCP and /web too
    return app


def __getattr__(name: str) -> Any:
    """`uvicorn ghostexec.cli:app` (and openenv.yaml's `app:`) get the full app, built on first use."""
    if name == "app":
        value = create_app()
        globals()["app"] = value
        return value
    raise AttributeError(name)


def _serve(argv: list[str]) -> int:
    from openenv_server.app import add_serve_arguments, serve, settings_from_args

    parser = add_serve_arguments(
        argparse.ArgumentParser(
            prog="ghostexec serve",
            description="Serve Ghostexec: OpenEnv (/ws, /episodes, /reset, /schema ...) and MCP (/mcp) on one port.",
        )
    )
    args = parser.parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    print(
        f"Ghostexec on http://{settings.host}:{settings.port}  (OpenEnv WS /ws · HTTP episodes /episodes · MCP /mcp · docs /docs)",
        file=sys.stderr,
    )
    serve(create_app(settings), settings)
    return 0


def _mcp(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ghostexec mcp", description="Serve one Ghostexec episode over MCP stdio.")
    parser.add_argument("--task", default="phase2_core", help=f"task id ({', '.join(available_tasks())})")
    parser.add_argument("--seed", type=int, default=0, help="episode seed (default 0)")
    parser.add_argument("--episode-id", default=None, help="optional episode id")
    args = parser.parse_args(argv)
    if args.task not in available_tasks():
        parser.error(f"unknown task '{args.task}'; available: {', '.join(available_tasks())}")
    from mcp_server.stdio import run

    run(args.task, args.seed, args.episode_id)
    return 0


# --- scenarios --------------------------------------------------------------------------------
def _validate(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ghostexec validate-scenario", description="Check scenario files.")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = 0
    for path in args.files:
        if path.name.endswith(".schema.json"):
            print(f"skip    {path}: the JSON Schema itself, not a scenario")
            continue
        try:
            sc = load_scenario_file(path)
        except ScenarioError as exc:
            failed += 1
            print(f"INVALID {path}: {len(exc.problems)} problem(s)")
            for p in exc.problems:
                print(f"  {p.path}: {p.message}")
            continue
        print(
            f"ok      {path}: '{sc.id}' ({sc.difficulty}), {len(sc.emails)} emails, {len(sc.meetings)} meetings, "
            f"{len(sc.tasks)} tasks, {len(sc.events)} events, {sc.step_budget} steps"
        )
    return 1 if failed else 0


def _schema(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ghostexec schema", description="Write the scenario JSON Schema.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed schema is out of date")
    args = parser.parse_args(argv)
    text = json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n"
    if args.check:
        current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
        if current != text:
            print(f"{SCHEMA_FILE} is out of date; run `ghostexec schema`", file=sys.stderr)
            return 1
        print(f"{SCHEMA_FILE} is up to date")
        return 0
    SCHEMA_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0


def _tasks(argv: list[str]) -> int:
    for tid in available_tasks():
        sc = load_task(tid)
        print(f"{tid:22} {sc.difficulty:7} {sc.step_budget:3} steps × {sc.minutes_per_step} min  {sc.title}")
    return 0


# --- play -------------------------------------------------------------------------------------
PLAY_HELP = """Commands (ids are in the briefing):
  reply E01 TEXT...            reply to an email            archive E07
  reschedule M05 START [END]   e.g. reschedule m05 2026-03-10T17:20
  cancel M08 [REASON...]       complete T01                 delegate T05 C02 [NOTE...]
  message C09 [email|slack|sms|phone] TEXT...               wait   (do nothing for a step)
  json {"action_type": ...}    any action as JSON
  briefing · breakdown · grade · help · quit
Text may be quoted or left bare; use \\n for a new line inside a reply."""

CHANNELS = {"email", "slack", "sms", "phone"}


def parse_play_command(line: str) -> dict[str, Any] | str:
    """Turn a typed command into an action dict, or return a meta command / an error message."""
    line = line.strip()
    if not line:
        return "empty"
    if line.startswith("json "):
        try:
            data = json.loads(line[5:])
        except json.JSONDecodeError as exc:
            return f"error: invalid JSON ({exc.msg})"
        return data if isinstance(data, dict) else "error: the JSON must be an object"
    newline = "\x00"  # shlex would eat the backslash of a bare \n, so park it first
    try:
        words = shlex.split(line.replace("\\n", newline))
    except ValueError:
        words = line.replace("\\n", newline).split()
    cmd, rest = words[0].lower(), words[1:]
    text = lambda ws: " ".join(ws).replace(newline, "\n")  # noqa: E731
    need = {"reply": 2, "archive": 1, "reschedule": 2, "cancel": 1, "complete": 1, "delegate": 2, "message": 2}
    if cmd in need and len(rest) < need[cmd]:
        return f"error: '{cmd}' needs more arguments — type help"
    if cmd == "reply":
        return {"action_type": "reply_email", "email_id": rest[0], "body": text(rest[1:])}
    if cmd == "archive":
        return {"action_type": "archive_email", "email_id": rest[0]}
    if cmd == "reschedule":
        act = {"action_type": "reschedule_meeting", "meeting_id": rest[0], "new_start": rest[1]}
        if len(rest) > 2:
            act["new_end"] = rest[2]
        return act
    if cmd == "cancel":
        act = {"action_type": "cancel_meeting", "meeting_id": rest[0]}
        if len(rest) > 1:
            act["reason"] = text(rest[1:])
        return act
    if cmd == "complete":
        return {"action_type": "complete_task", "task_id": rest[0]}
    if cmd == "delegate":
        act = {"action_type": "delegate_task", "task_id": rest[0], "contact_id": rest[1]}
        if len(rest) > 2:
            act["note"] = text(rest[2:])
        return act
    if cmd == "message":
        if rest[1].lower() in CHANNELS and len(rest) > 2:
            return {"action_type": "send_message", "contact_id": rest[0], "channel": rest[1].lower(), "body": text(rest[2:])}
        return {"action_type": "send_message", "contact_id": rest[0], "body": text(rest[1:])}
    if cmd in {"wait", "nothing", "do_nothing", "pass"}:
        return {"action_type": "do_nothing"}
    if cmd in {"help", "?", "briefing", "breakdown", "grade", "quit", "exit", "q"}:
        return cmd
    return f"error: unknown command '{cmd}' — type help"


def _print_breakdown(res, out: TextIO) -> None:
    if res.breakdown is None:
        return
    parts = ", ".join(f"{c.name} {c.value:+.3f}" for c in res.breakdown.components if c.value)
    print(f"reward {res.reward:+.3f}" + (f"  ({parts})" if parts else ""), file=out)
    for x in res.breakdown.expectations:
        print(f"  expectation {'met   ' if x.met else 'MISSED'} {x.label}", file=out)


def play(task: str, seed: int, inp: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    from .simulation import Simulation

    sim = Simulation()
    obs = sim.reset(task_id=task, seed=seed)
    print(obs.briefing, file=out)
    print("\nType 'help' for commands.", file=out)
    last = None
    total = 0.0
    while not sim.done:
        print(
            f"\n[{sim.world.clock:%H:%M} · step {sim.world.step + 1}/{sim.world.scenario.step_budget} · return {total:+.2f}] > ",
            end="",
            file=out,
        )
        out.flush()
        line = inp.readline()
        if not line:
            print("\n(end of input)", file=out)
            break
        cmd = parse_play_command(line)
        if cmd == "empty":
            continue
        if isinstance(cmd, str):
            if cmd.startswith("error:"):
                print(cmd, file=out)
            elif cmd in {"help", "?"}:
                print(PLAY_HELP, file=out)
            elif cmd == "briefing":
                print(sim.observation.briefing, file=out)
            elif cmd == "breakdown":
                if last is None:
                    print("no step taken yet", file=out)
                else:
                    _print_breakdown(last, out)
            elif cmd == "grade":
                g = sim.grade()
                print(f"grade so far {g.score:.3f}  " + ", ".join(f"{k} {v:.2f}" for k, v in g.components.items()), file=out)
            else:  # quit
                break
            continue
        res = sim.step(cmd)
        if res.info.get("rejected"):
            print(f"not an action: {res.observation.error}", file=out)
            continue
        last = res
        total += res.reward
        print(res.observation.briefing, file=out)
        print("", file=out)
        _print_breakdown(res, out)
    g = sim.grade()
    caps = "; ".join(f"{c.label} (cap {c.cap})" for c in g.caps_applied)
    print(
        f"\nEpisode {'over' if sim.done else 'stopped'} after {sim.world.step} steps. Return {total:+.3f}. Grade {g.score:.3f}.",
        file=out,
    )
    print("  " + ", ".join(f"{k} {v:.2f}" for k, v in g.components.items()) + (f"  CAPPED: {caps}" if caps else ""), file=out)
    return 0


def _play(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ghostexec play", description="Play an episode at the terminal.")
    parser.add_argument("--task", default="phase2_core", help=f"task id ({', '.join(available_tasks())})")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.task not in available_tasks():
        parser.error(f"unknown task '{args.task}'; available: {', '.join(available_tasks())}")
    return play(args.task, args.seed)


# --- evaluation -------------------------------------------------------------------------------
def _remote(transport: str, base_url: str, token: str | None) -> Any:
    """The adapter that speaks `transport` to a running server (imported here, never in the core)."""
    if transport == "openenv":
        from openenv_server.evaluation import OpenEnvRemote

        return OpenEnvRemote(base_url, token=token)
    from mcp_server.evaluation import McpRemote

    return McpRemote(base_url, token=token)


def _eval(argv: list[str]) -> int:
    from contextlib import ExitStack

    from . import evaluation
    from .policies import POLICIES
    from .progress import Progress

    parser = argparse.ArgumentParser(
        prog="ghostexec eval",
        description="Run policies over tasks and seeds; print a results table, optionally write JSONL trajectories "
        "and a PNG chart. With --transport openenv|mcp every step is also checked against an in-process mirror.",
    )
    parser.add_argument("--policy", required=True, help=f"comma list or 'all' ({', '.join(POLICIES)})")
    parser.add_argument("--task", default="all", help=f"comma list or 'all' ({', '.join(available_tasks())})")
    parser.add_argument("--seeds", default="0-9", help="e.g. 0-9, 3 or 0,2,5-7 (default 0-9)")
    parser.add_argument("--transport", choices=("inproc", "openenv", "mcp"), default="inproc")
    parser.add_argument("--url", default=None, help="server to use for openenv/mcp (default: start one on a free loopback port)")
    parser.add_argument("--token", default=None, help="bearer token for --url (default: $GHOSTEXEC_TOKEN)")
    parser.add_argument("--out", type=Path, default=None, help="write trajectories, results.json, table.md and eval.png here")
    parser.add_argument("--chart", type=Path, default=None, help="write the PNG chart here (default DIR/eval.png with --out)")
    parser.add_argument("--threshold", type=float, default=evaluation.DEFAULT_THRESHOLD, help="grade that counts as a pass (0.5)")
    parser.add_argument("--k", type=int, default=evaluation.DEFAULT_K, help="k of pass^k (default 3; must be <= number of seeds)")
    args = parser.parse_args(argv)
    try:
        policies = {name: POLICIES[name] for name in evaluation.pick(args.policy, list(POLICIES), "policy")}
        tasks = evaluation.pick(args.task, available_tasks(), "task")
        seeds = evaluation.parse_seeds(args.seeds)
    except ValueError as exc:
        parser.error(str(exc))
    if args.k < 1:
        parser.error("--k must be >= 1")
    if args.transport == "inproc" and args.url:
        parser.error("--url needs --transport openenv or mcp")
    total = len(policies) * len(tasks) * len(seeds)
    progress = Progress(total, label=f"eval[{args.transport}]")
    with ExitStack() as stack:
        remote = None
        if args.transport != "inproc":
            url, token = args.url, args.token
            if url is None:  # our own server on a free loopback port, with a token of its own
                import secrets

                from openenv_server.testing import running_server

                token = secrets.token_urlsafe(16)
                url = stack.enter_context(running_server(app=create_app(token=token)))
            elif token is None:
                token = os.environ.get("GHOSTEXEC_TOKEN") or None
            remote = _remote(args.transport, url, token)
            stack.callback(remote.close)
        try:
            results = evaluation.run_eval(policies, tasks, seeds, remote=remote, out=args.out, progress=progress)
        except evaluation.ParityError as exc:
            print(f"\n{exc}", file=sys.stderr)
            return 1
    rows = evaluation.aggregate(results, threshold=args.threshold, k=args.k)
    table = evaluation.format_table(rows, threshold=args.threshold, k=args.k)
    print(table)
    chart = args.chart or (args.out / "eval.png" if args.out else None)
    if args.out:
        doc = {
            "transport": args.transport,
            "threshold": args.threshold,
            "k": args.k,
            "seeds": seeds,
            "rows": [r.as_dict() for r in rows],
            "episodes": [r.summary() for r in results],
        }
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        (args.out / "table.md").write_text(table + "\n", encoding="utf-8")
        print(f"\n{len(results)} trajectories in {args.out / 'trajectories'}; results.json and table.md in {args.out}")
    if chart:
        from .chart import draw

        try:
            print(f"chart: {draw(results, rows, chart, threshold=args.threshold)}")
        except RuntimeError as exc:
            print(f"no chart: {exc}", file=sys.stderr)
            return 1
    return 0


def _replay(argv: list[str]) -> int:
    from .trajectory import TrajectoryError, replay

    parser = argparse.ArgumentParser(
        prog="ghostexec replay", description="Re-run a JSONL trajectory in process and verify every recorded hash."
    )
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = 0
    for path in args.files:
        try:
            report = replay(path)
        except (OSError, TrajectoryError) as exc:
            report = None
            message = f"cannot read: {exc}"
        else:
            message = report.message
        ok = report is not None and report.ok
        failed += not ok
        prefix = "" if len(args.files) == 1 else f"{path}: "
        print(f"{prefix}{message}" if ok else f"{prefix}MISMATCH {message}", file=sys.stdout if ok else sys.stderr)
    return 1 if failed else 0


COMMANDS = {
    "serve": _serve,
    "mcp": _mcp,
    "play": _play,
    "validate-scenario": _validate,
    "schema": _schema,
    "tasks": _tasks,
    "eval": _eval,
    "replay": _replay,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(__doc__.strip().split("\n\n")[1] if __doc__ else "")
        return 0 if argv else 2
    cmd = argv[0]
    if cmd not in COMMANDS:
        print(f"ghostexec: unknown command '{cmd}'; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return COMMANDS[cmd](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
