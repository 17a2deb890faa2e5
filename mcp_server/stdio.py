"""stdio transport: one episode per process, chosen by flags.

    ghostexec mcp --task monday_morning --seed 7        (ghostexec/cli.py calls run())
    python -m mcp_server --task monday_morning --seed 7

Only MCP messages go to stdout; logs go to stderr.
"""

from __future__ import annotations

import logging
import sys

from .episodes import EpisodeRegistry
from .server import build_server


def run(
    task: str | None = None,
    seed: int = 0,
    episode_id: str | None = None,
    *,
    restart_tool: bool = True,
    briefing_in_result: bool = True,
) -> None:
    """Serve one episode over stdio until stdin closes. Raises KeyError for an unknown task
    (before anything is written to stdout)."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    registry = EpisodeRegistry.single(task, seed, episode_id)
    build_server(registry, restart_tool=restart_tool, briefing_in_result=briefing_in_result).run("stdio")
