"""Ghostexec served as an OpenEnv environment (openenv-core 0.3.0): thin over `ghostexec`.

- `openenv_server.app`: `create_app(...)` (FastAPI), `serve(...)`, `Settings`, CLI helpers.
- `openenv_server.environment`: `GhostexecEnvironment` (the OpenEnv `Environment`).
- `openenv_server.models`: wire types (`GhostexecAction` and its eight subclasses, observation, state).
- `openenv_server.episodes`: stateful HTTP episodes (`/episodes`).
- `openenv_server.client`: `GhostexecEnv`, the typed EnvClient.

Importing this package does not import FastAPI or uvicorn; the submodules do.
"""
