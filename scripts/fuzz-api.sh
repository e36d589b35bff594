#!/usr/bin/env bash
# Fuzzes the REST API with schemathesis, driven by the API's own OpenAPI document, against a live
# server over a fixture scenario (api/fixture-server.ts: the JD.com storm). Fails on any 5xx, on a
# status code or content type the document does not declare, and on any response that breaks its
# own schema.
#
#   scripts/fuzz-api.sh                      # 25 examples per operation
#   FUZZ_MAX_EXAMPLES=200 scripts/fuzz-api.sh
#
# schemathesis comes from PyPI into a venv under ${CONVERGE_CACHE:-~/.cache/converge} (first run
# only; pinned in scripts/fuzz-api.requirements.txt). Set FUZZ_REPORT_DIR to keep a JUnit report.
set -euo pipefail

cd "$(dirname "$0")/.."
max_examples="${FUZZ_MAX_EXAMPLES:-25}"
seed="${FUZZ_SEED:-20240301}"
cache="${CONVERGE_CACHE:-$HOME/.cache/converge}"
venv="$cache/schemathesis-venv"
requirements="scripts/fuzz-api.requirements.txt"

if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -qF "$(sed -n 's/^schemathesis==//p' "$requirements")"; then
  echo "fuzz-api: installing schemathesis into $venv" >&2
  mkdir -p "$cache"
  python3 -m venv "$venv" || {
    echo "fuzz-api: 'python3 -m venv' failed: install Python 3 with venv (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" || {
    echo "fuzz-api: pip could not install $requirements from PyPI (see above)" >&2
    exit 1
  }
fi

workdir="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$workdir"
}
trap cleanup EXIT

token="$(node -e 'process.stdout.write(require("node:crypto").randomBytes(24).toString("hex"))')"
node --import tsx api/fixture-server.ts --port 0 --token "$token" >"$workdir/server.out" 2>"$workdir/server.err" &
server_pid=$!

url=""
for _ in $(seq 1 600); do
  if [ -s "$workdir/server.out" ]; then
    url="$(node -e 'const l=require("node:fs").readFileSync(process.argv[1],"utf8").split("\n")[0]; process.stdout.write(JSON.parse(l).url)' "$workdir/server.out")"
    break
  fi
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "fuzz-api: the fixture server exited before listening:" >&2
    cat "$workdir/server.err" >&2
    exit 1
  fi
  sleep 0.2
done
if [ -z "$url" ]; then
  echo "fuzz-api: the fixture server did not start within 120 s" >&2
  exit 1
fi
echo "fuzz-api: fuzzing $url (fixture server over the JD storm, throwaway token)" >&2

report=()
if [ -n "${FUZZ_REPORT_DIR:-}" ]; then
  mkdir -p "$FUZZ_REPORT_DIR"
  report=(--report junit --report-junit-path "$(cd "$FUZZ_REPORT_DIR" && pwd)/fuzz-api.junit.xml")
fi

status=0
# One worker: with threads, CPython 3.11's ast.parse (which hypothesis calls to describe its
# filters) can fail with "SystemError: AST constructor recursion depth mismatch" (CPython
# gh-106905), a crash of the fuzzer itself, not a finding about the API.
# schemathesis and hypothesis keep caches in the working directory: the temporary one, not the repo.
(cd "$workdir" && "$venv/bin/schemathesis" --no-color run "$url/openapi.json" \
  --url "$url" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "$max_examples" \
  --seed "$seed" \
  --workers 1 \
  --request-timeout 20 \
  --suppress-health-check all \
  "${report[@]}") || status=$?

if [ "$status" -ne 0 ]; then
  echo "fuzz-api: schemathesis found problems (exit $status); server log tail:" >&2
  tail -n 40 "$workdir/server.err" >&2 || true
fi
exit "$status"
