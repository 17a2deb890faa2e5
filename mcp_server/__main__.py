"""`python -m mcp_server --task T --seed N`: the stdio server (same as `ghostexec mcp`)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mcp_server", description="Ghostexec MCP server over stdio (one episode).")
    p.add_argument("--task", default=None, help="scenario id (default: the core's default scenario)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--episode-id", default=None, help="fix the episode id (reproducible briefings and hashes)")
    p.add_argument("--no-restart-tool", action="store_true", help="hide start_episode (strict evaluation)")
    p.add_argument("--no-briefing-in-result", action="store_true", help="do not attach the briefing to action results")
    args = p.parse_args(argv)
    from .stdio import run

    try:
        run(
            args.task,
            args.seed,
            args.episode_id,
            restart_tool=not args.no_restart_tool,
            briefing_in_result=not args.no_briefing_in_result,
        )
    except KeyError as exc:
        print(f"ghostexec mcp: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
