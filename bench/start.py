#!/usr/bin/env python3
"""Sandbox start latency: start -> /bin/true -> reaped, full sandbox, median of N runs.

Compares, in the same run: ruko-run (default template: namespaces, read-only binds, /proc, /dev,
cgroup v2, seccomp, capabilities dropped), bwrap with the same binds (--unshare-all
--die-with-parent), runc on an equivalent bundle, and bare `unshare -mpfiun` as the floor.
Also reports ruko-run's peak RSS. Usage: bench/start.py RUKO_RUN [RUNS]
"""
import json, os, resource, shutil, statistics, subprocess, sys, tempfile, time

ruko = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".build/release/ruko-run")
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 50
work = tempfile.mkdtemp(prefix="ruko-bench-start-")


def links():
    out = []
    for d in ["bin", "lib", "lib64", "sbin"]:
        p = "/" + d
        if os.path.islink(p):
            out.append((os.readlink(p), p))
    return out


bwrap = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
for target, link in links():
    bwrap += ["--symlink", target, link]
bwrap += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", work, "/app", "--chdir", "/app", "/bin/true"]

# runc bundle: an empty rootfs with the same binds and links.
bundle = os.path.join(work, "bundle")
rootfs = os.path.join(bundle, "rootfs")
os.makedirs(rootfs)
for target, link in links():
    os.symlink(target, rootfs + link)
subprocess.run(["runc", "spec"], cwd=bundle, check=True)
with open(os.path.join(bundle, "config.json")) as f:
    spec = json.load(f)
spec["process"]["terminal"] = False
spec["process"]["args"] = ["/bin/true"]
spec["root"]["readonly"] = True
spec["mounts"] += [
    {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro", "nosuid", "nodev"]},
    {"destination": "/etc", "type": "bind", "source": "/etc", "options": ["rbind", "ro", "nosuid", "nodev"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
    {"destination": "/app", "type": "bind", "source": work, "options": ["rbind", "rw"]},
]
spec["linux"]["namespaces"].append({"type": "cgroup"})
with open(os.path.join(bundle, "config.json"), "w") as f:
    json.dump(spec, f)
runc = ["runc", "--root", os.path.join(work, "runc-state"), "run", "--bundle", bundle]

commands = {
    "ruko-run": [ruko, "--app", work, "--", "/bin/true"],
    "bwrap": bwrap,
    "runc": None,  # named per run (container ids must be unique)
    "unshare -mpfiun": ["unshare", "-mpfiun", "/bin/true"],
}


def once(name, i):
    cmd = commands[name] if name != "runc" else runc + [f"bench-{os.getpid()}-{i}"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    t = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{name} failed ({p.returncode}): {p.stderr.decode()[:400]}")
    return t


available = [n for n in commands if shutil.which((commands[n] or runc)[0])]
times = {n: [] for n in available}
for n in available:
    for i in range(3):
        once(n, -1 - i)
# Interleave so load on the machine hits every contender alike.
for i in range(runs):
    for n in available:
        times[n].append(once(n, i))

# ruko-run's peak RSS, measured alone: a fresh Python parent runs only ruko-run.
probe = "import resource,subprocess,sys; subprocess.run(sys.argv[1:]); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
rss_kb = int(subprocess.run([sys.executable, "-c", probe, ruko, "--", "/bin/true"], capture_output=True, text=True).stdout)

med = {n: statistics.median(v) * 1000 for n, v in times.items()}
print(f"runs per contender: {runs} (interleaved), {os.cpu_count()} cores")
print(f"{'contender':<18}{'median ms':>10}{'p90 ms':>10}{'vs bwrap':>10}{'vs runc':>10}")
for n in available:
    p90 = sorted(times[n])[int(len(times[n]) * 0.9) - 1] * 1000
    vb = med[n] / med["bwrap"] if "bwrap" in med else float("nan")
    vr = med[n] / med["runc"] if "runc" in med else float("nan")
    print(f"{n:<18}{med[n]:>10.2f}{p90:>10.2f}{vb:>9.2f}x{vr:>9.2f}x")
print(f"ruko-run peak RSS: {rss_kb / 1024:.1f} MB (ru_maxrss)")
shutil.rmtree(work, ignore_errors=True)
