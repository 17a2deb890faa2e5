"""Ghostexec as a standard MCP server (official `mcp` SDK 2.x, `MCPServer`), thin over `ghostexec/`.

- `mcp_server.server.build_server(registry)`: the server (tools, resources, prompt, subscriptions).
- `mcp_server.episodes.EpisodeRegistry`: episodes and per-client isolation.
- `mcp_server.stdio.run(task, seed)`: one episode per process over stdio.
- `mcp_server.http.mount(app)`: Streamable HTTP inside an existing FastAPI app (the OpenEnv one).

See docs/mcp.md.
"""

from .episodes import EpisodeRegistry
from .server import BRIEFING_URI, CONTROL_URI, build_server

__all__ = ["BRIEFING_URI", "CONTROL_URI", "EpisodeRegistry", "build_server"]
