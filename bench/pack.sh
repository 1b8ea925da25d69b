#!/usr/bin/env bash
# Slug packing benchmark: ruko's packer against `tar czf` and `tar -I pigz` on the same
# deterministic ~100 MB tree, interleaved, in one run.
#
# usage: bench/pack.sh [RUNS]        (default 7 runs per tool; medians reported)
# env:   RUKO_PACK_CMD  command that packs: invoked as `$RUKO_PACK_CMD DIR OUT.tgz`
#                       (default: "ruko-build pack", found on PATH or in RUKO_BIN_DIR)
#        BENCH_DIR      where the tree and outputs go (default: bench-out/ in the repository)
#        BENCH_MB       tree size in MB (default 100)
set -euo pipefail

runs=${1:-7}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${BENCH_DIR:-$root/bench-out}
mb=${BENCH_MB:-100}
if [[ -n "${RUKO_BIN_DIR:-}" ]]; then PATH="$RUKO_BIN_DIR:$PATH"; fi
pack_cmd=${RUKO_PACK_CMD:-ruko-build pack}

mkdir -p "$out"
tree="$out/tree-${mb}mb"
stamp="$tree.generator-$(sha256sum "$here/gen-tree.py" | cut -c1-16)"
if [[ ! -e "$stamp" ]]; then
    rm -rf "$tree" "$tree".generator-*
    python3 "$here/gen-tree.py" "$tree" --mb "$mb" --seed 42
    touch "$stamp"
fi

for tool in tar pigz python3; do command -v "$tool" >/dev/null || { echo "bench: $tool not found" >&2; exit 1; }; done
read -r pack_bin _ <<<"$pack_cmd"
command -v "$pack_bin" >/dev/null || { echo "bench: '$pack_bin' not found (set RUKO_PACK_CMD or RUKO_BIN_DIR)" >&2; exit 1; }

python3 - "$runs" "$tree" "$out" "$pack_cmd" <<'PY'
import os, resource, shlex, statistics, subprocess, sys, time

runs, tree, out, pack_cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
tools = {
    "ruko": shlex.split(pack_cmd) + [tree, os.path.join(out, "ruko.tgz")],
    "tar czf": ["tar", "czf", os.path.join(out, "tar.tgz"), "-C", tree, "."],
    "tar -I pigz": ["tar", "-I", "pigz", "-cf", os.path.join(out, "pigz.tgz"), "-C", tree, "."],
}
outputs = {"ruko": "ruko.tgz", "tar czf": "tar.tgz", "tar -I pigz": "pigz.tgz"}
subprocess.run(["tar", "cf", "/dev/null", "-C", tree, "."], check=True)  # warm the page cache
times = {name: [] for name in tools}
cpu = {name: [] for name in tools}
def child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
for i in range(runs):
    for name, argv in tools.items():  # interleaved, so background load hits every tool alike
        cpu_start = child_cpu()
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times[name].append(time.perf_counter() - start)
        cpu[name].append(child_cpu() - cpu_start)
for name in outputs:
    subprocess.run(["gzip", "-t", os.path.join(out, outputs[name])], check=True)
files = sum(len(f) for _, _, f in os.walk(tree))
size = sum(os.path.getsize(os.path.join(d, n)) for d, _, fs in os.walk(tree) for n in fs
           if not os.path.islink(os.path.join(d, n)))
med = {n: statistics.median(t) for n, t in times.items()}
out_size = {n: os.path.getsize(os.path.join(out, outputs[n])) for n in outputs}
print(f"tree: {size / 1e6:.1f} MB in {files} files; {runs} interleaved runs per tool; "
      f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
print()
print("| tool | median s | min s | max s | CPU s (median) | output MB | speed vs tar czf | size vs tar czf |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for n in tools:
    print(f"| {n} | {med[n]:.2f} | {min(times[n]):.2f} | {max(times[n]):.2f} | {statistics.median(cpu[n]):.2f} | "
          f"{out_size[n] / 1e6:.2f} | "
          f"{med['tar czf'] / med[n]:.2f}× | {out_size[n] / out_size['tar czf']:.3f} |")
print()
print(f"ruko vs tar czf: {med['tar czf'] / med['ruko']:.2f}× faster (goal ≥ 3×); "
      f"vs pigz: {med['tar -I pigz'] / med['ruko']:.2f}× faster (goal ≥ 1.5×); "
      f"size {out_size['ruko'] / out_size['tar czf']:.3f}× tar czf (goal ≤ 1.03)")
PY
