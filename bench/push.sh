#!/bin/bash
# bench/push.sh — what ruko-shim adds to a git push, beyond the build itself.
#
# Same run, same sshd (ruko-shim dev-sshd), same repository (examples/procfile), N rounds:
#   plain: git push to a fresh bare repository as a plain login user (no forced command)
#   shim:  git push to a fresh app through ruko-shim (authorise, lock, fetch, sandboxed
#          receive-pack, build, uploads, release)
# The session logs its build time (STATE/timings.log); overhead = shim - plain - build.
# Needs root (sshd, sandbox). Binaries: $RUKO_BIN_DIR (default .build/debug; build them first:
# swift build --product ruko-shim && swift build --product ruko-api). Budget: overhead <= 300 ms.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${RUKO_BIN_DIR:-$ROOT/.build/debug}
[ "$(id -u)" = 0 ] || { echo "bench/push.sh: needs root (sshd, sandbox)" >&2; exit 1; }
for b in ruko-shim ruko-api; do
    [ -x "$BIN/$b" ] || { echo "bench/push.sh: $BIN/$b missing; swift build --product $b" >&2; exit 1; }
done

D=/var/lib/ruko-bench-$$ # root-owned, not under /tmp (sshd StrictModes)
mkdir -p "$D" && chmod 755 "$D"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$D"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
API_PORT=$(port)
SSH_PORT=$(port)
api() { "$BIN/ruko-api" "$1" --data "$D/api" "${@:2}" >/dev/null; }

ssh-keygen -q -t ed25519 -N '' -f "$D/key"
api users:add bench
api keys:add bench "$D/key.pub"
for i in $(seq 1 "$ROUNDS"); do
    api apps:create "bench-$i"
    api access:add "bench-$i" bench --write
done
TOKEN=$("$BIN/ruko-api" token --data "$D/api")
cp "$D/key.pub" "$D/plain_keys"
chmod 644 "$D/plain_keys"

"$BIN/ruko-api" serve --data "$D/api" --listen "127.0.0.1:$API_PORT" >"$D/api.log" 2>&1 &
PIDS+=($!)
"$BIN/ruko-shim" dev-sshd --listen "127.0.0.1:$SSH_PORT" --api "http://127.0.0.1:$API_PORT" --token "$TOKEN" \
    --state "$D/sshd" --plain-user ruko-bench --plain-keys "$D/plain_keys" >"$D/sshd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$SSH_PORT") 2>/dev/null; then break; fi
    sleep 0.1
done

SRC=$D/src
cp -R "$ROOT/examples/procfile" "$SRC"
git -C "$SRC" init -q -b main
git -C "$SRC" add -A
git -C "$SRC" -c user.name=b -c user.email=b@e commit -qm bench
export GIT_SSH_COMMAND="ssh -i $D/key -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o BatchMode=yes"
PLAIN_HOME=$(getent passwd ruko-bench | cut -d: -f6)

now() { date +%s%N; }
plain=()
shim=()
build=()
for i in $(seq 1 "$ROUNDS"); do
    repo=$PLAIN_HOME/bench-$$-$i.git
    su -s /bin/sh ruko-bench -c "git init -q --bare '$repo'"
    t0=$(now)
    git -C "$SRC" push -q "ssh://ruko-bench@127.0.0.1:$SSH_PORT$repo" main 2>/dev/null
    t1=$(now)
    git -C "$SRC" push -q "ssh://git@127.0.0.1:$SSH_PORT/bench-$i.git" main 2>"$D/push-$i.log" || {
        cat "$D/push-$i.log" >&2
        exit 1
    }
    t2=$(now)
    rm -rf "$repo"
    plain+=($(((t1 - t0) / 1000000)))
    shim+=($(((t2 - t1) / 1000000)))
    b=$(awk -v app="bench-$i" '$1 == "build" && $2 == app { printf "%d", $3 * 1000 }' "$D/sshd/state/timings.log")
    build+=("$b")
    echo "round $i: plain ${plain[-1]} ms, shim ${shim[-1]} ms (build $b ms)"
done

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
P=$(median "${plain[@]}")
S=$(median "${shim[@]}")
B=$(median "${build[@]}")
O=$((S - P - B))
echo "median: plain push ${P} ms, shim push ${S} ms, build ${B} ms"
echo "shim overhead beyond the build: ${O} ms (budget 300 ms)"
[ "$O" -le 300 ] || { echo "bench/push.sh: over budget" >&2; exit 1; }
