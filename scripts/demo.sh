#!/usr/bin/env bash
# make demo: build an example app into a slug with ruko-build, unpack it, start its web process
# in the ruko sandbox on a free port, curl it, show the response, stop it.
#
# Usage: scripts/demo.sh [python|procfile|static|nodejs]     (default: python; needs root)
# Binaries: $RUKO_BIN_DIR, else .build/release, else .build/debug.
set -euo pipefail
cd "$(dirname "$0")/.."
example=${1:-python}
[ -d "examples/$example" ] || { echo "demo: no such example: examples/$example" >&2; exit 2; }
if [ "$(id -u)" -ne 0 ]; then
  echo "demo: the sandbox needs root; run: sudo make demo" >&2
  exit 1
fi

bin=${RUKO_BIN_DIR:-}
if [ -z "$bin" ]; then
  for dir in .build/release .build/debug; do
    if [ -x "$dir/ruko-build" ] && [ -x "$dir/ruko-run" ]; then bin=$dir; break; fi
  done
fi
if [ -z "$bin" ]; then
  echo "demo: building ruko-build and ruko-run" >&2
  swift build --product ruko-build >&2
  swift build --product ruko-run >&2
  bin=.build/debug
fi

work=$(mktemp -d /tmp/ruko-demo.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "=== ruko-build examples/$example -o $work/slug.tgz"
"$bin/ruko-build" "examples/$example" -o "$work/slug.tgz" --cache-dir "$work/cache" \
  --release-json "$work/release.json" --allow-missing-controllers
echo
echo "=== release"
cat "$work/release.json"

web=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["processTypes"]["web"])' "$work/release.json")
echo
echo "=== ruko-build unpack (SafeExtractor), owned by the sandbox user"
"$bin/ruko-build" unpack "$work/slug.tgz" "$work/slug" --owner 10001:10001
ls -la "$work/slug/app" | head -20

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
echo
echo "=== ruko-run --app $work/slug/app --network host --env PORT=$port -- bash -c '<.profile.d>; $web'"
# Like a dyno: config vars, then .profile.d/*.sh, then the process type's command.
"$bin/ruko-run" --app "$work/slug/app" --network host --allow-missing-controllers --env PORT="$port" -- \
  bash -c 'for f in /app/.profile.d/*.sh; do [ -f "$f" ] && . "$f"; done; eval "exec $0"' "$web" &
pid=$!

body=
for _ in $(seq 1 100); do
  if body=$(curl -fsS "http://127.0.0.1:$port/" 2>/dev/null); then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then echo "demo: the web process exited" >&2; exit 1; fi
  sleep 0.1
done
echo
echo "=== curl http://127.0.0.1:$port/"
if [ -z "$body" ]; then
  echo "demo: no answer from the web process" >&2
  exit 1
fi
printf '%s\n' "$body"
echo
echo "=== stopping the web process"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=
echo "demo: ok"
