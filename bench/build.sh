#!/usr/bin/env bash
# make bench: ruko-build's overhead on the procfile example against a reference shell pipeline
# doing the same steps without a sandbox (copy app and buildpack, detect over the bundled
# buildpacks in order, compile, release, tar czf). Both run alternately in the same run; medians.
#
# Usage: bench/build.sh [RUNS]   (default 30; needs root for the sandbox)
# BENCH_TMPDIR=DIR puts both pipelines' work trees there (default /tmp; e.g. /dev/shm for tmpfs,
# which removes the filesystem's rmdir/discard costs from both sides).
# Binaries: $RUKO_BIN_DIR, else `make build-release` (ruko-build linked fully static, as installed).
# Prints a summary and writes bench-out/build.json.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
if [ "$(id -u)" -ne 0 ]; then echo "bench: needs root (the build sandbox)" >&2; exit 1; fi
bin=${RUKO_BIN_DIR:-}
if [ -z "$bin" ]; then
  # Build (a no-op when up to date) so the binaries match the sources.
  make --no-print-directory build-release >&2
  bin=.build-static/release
fi
app=examples/procfile
tmp=${BENCH_TMPDIR:-/tmp}
work=$(mktemp -d "$tmp/ruko-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p bench-out

# The reference: what herokuish-style shell builders do, minus isolation.
reference() {
  local d
  d=$(mktemp -d "$work/ref.XXXXXX")
  mkdir -p "$d/cache" "$d/env"
  cp -a "$app" "$d/app"
  rm -rf "$d/app/.git"
  local chosen=
  while read -r name; do
    case $name in ''|\#*) continue ;; esac
    if buildpacks/$name/bin/detect "$d/app" >/dev/null 2>&1; then chosen=$name; break; fi
  done < buildpacks/order
  cp -a "buildpacks/$chosen" "$d/bp"
  (cd "$d/app" && "$d/bp/bin/compile" "$d/app" "$d/cache" "$d/env") >/dev/null
  "$d/bp/bin/release" "$d/app" > "$d/release.yml"
  tar czf "$d/slug.tgz" -C "$d" app
  rm -rf "$d"
}

ruko() {
  TMPDIR=$tmp "$bin/ruko-build" "$app" -o "$work/slug.tgz" --quiet --allow-missing-controllers
}

now_ns() { date +%s%N; }
: > "$work/ref.txt"
: > "$work/ruko.txt"
reference; ruko   # warm caches
for _ in $(seq 1 "$runs"); do
  t0=$(now_ns); reference; t1=$(now_ns); echo $(( (t1 - t0) / 1000 )) >> "$work/ref.txt"
  t0=$(now_ns); ruko; t1=$(now_ns); echo $(( (t1 - t0) / 1000 )) >> "$work/ruko.txt"
done

python3 - "$work/ref.txt" "$work/ruko.txt" "$runs" "$bin" "$tmp" <<'PY'
import json, statistics, sys
ref = [int(x) / 1000 for x in open(sys.argv[1])]
ruko = [int(x) / 1000 for x in open(sys.argv[2])]
mr, mk = statistics.median(ref), statistics.median(ruko)
result = {
    "runs": int(sys.argv[3]), "binaries": sys.argv[4], "work_directory": sys.argv[5],
    "reference_median_ms": round(mr, 1), "ruko_build_median_ms": round(mk, 1),
    "ratio": round(mk / mr, 2), "overhead_ms": round(mk - mr, 1), "overhead_fraction": round((mk - mr) / mr, 2),
    "goal": "overhead_fraction <= 0.5",
}
print(f"procfile example, {result['runs']} runs each, work trees in {result['work_directory']}, medians:")
print(f"  reference shell pipeline : {mr:8.1f} ms")
print(f"  ruko-build (sandboxed)   : {mk:8.1f} ms")
print(f"  ratio {result['ratio']}x, overhead {result['overhead_ms']} ms ({result['overhead_fraction']:+.0%}); goal: overhead <= +50%")
json.dump(result, open("bench-out/build.json", "w"), indent=2)
PY
