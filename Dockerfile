# Ghostexec as a Hugging Face Space (Docker SDK): OpenEnv (/ws, /episodes, /reset, /schema, ...)
# and MCP (/mcp) from one process on one port. The Space's landing page is the office at /web
# (GET / redirects there).
#
# Port convention: Spaces route to the port named by `app_port` in the Space README (default
# 7860), so the server listens on $PORT, default 7860; EXPOSE documents it. Locally:
#   docker build -t ghostexec . && docker run -p 7860:7860 ghostexec
#   docker run -e PORT=8000 -p 8000:8000 ghostexec          # another port
# Server limits come from GHOSTEXEC_* variables (see docs/openenv.md), e.g. -e GHOSTEXEC_MAX_SESSIONS=128.
# The exact CMD below is run by tests/test_openenv_serve.py (no Docker engine needed).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=7860

# Spaces run containers as uid 1000; never run as root.
RUN useradd --create-home --uid 1000 user
WORKDIR /home/user/app

# Dependencies first (cached while only the code changes), pinned by constraints.txt.
COPY constraints.txt pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['server']))" > /tmp/reqs.txt \
    && pip install -c constraints.txt -r /tmp/reqs.txt && rm /tmp/reqs.txt

# The code. Editable install: the scenarios/ directory is found next to the package.
COPY --chown=user . .
RUN pip install --no-deps -e . && chown -R user:user /home/user/app

USER user
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '7860'), timeout=4)"]
CMD ["sh", "-c", "exec ghostexec serve --host ${HOST:-0.0.0.0} --port ${PORT:-7860}"]
