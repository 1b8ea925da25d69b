#!/bin/bash
# The limit tests of ruko-run, run by the test VM's /init inside a chroot of the host root (so host
# bash, coreutils, procps, python3 and the freshly built ruko-run are used as they are).
#
# Every case prints exactly one console line:  @@RESULT <name> PASS|FAIL <detail>
# and leaves <name>.stdout, <name>.stderr and <name>.samples in the run's output directory
# (/run/ruko-vm/out here, mounted from the host's .build-vm/last-run/).
#
# While a case runs, a sampler records the counters of every cgroup that did not exist before the
# case (pids.current, pids.events, cpu.stat, memory.events, the limits): the run's cgroup is
# removed when ruko-run returns, so it has to be read while it exists.

set -u
shopt -s nullglob

OUT=/run/ruko-vm/out
SCRATCH=/run/ruko-vm/scratch
CG=/sys/fs/cgroup
mkdir -p "$SCRATCH"

# Written by the host: RUKO_RUN (absolute path of the binary), RUKO_REPO (the working tree).
# shellcheck source=/dev/null
. "$OUT/config.env"

# The cgroup root ruko-run picks by default on a pure cgroup-v2 machine (contracts.md:
# /sys/fs/cgroup/ruko/<id>); it may stay after the runs, its children may not.
RUKO_CGROUP_ROOT=${RUKO_VM_CGROUP_ROOT:-/ruko}
# Upper bound for one ruko-run invocation; hitting it means ruko-run hung.
RUN_GUARD=40

cd "${RUKO_REPO:-/}" || cd /

uptime_s() { local u _; read -r u _ </proc/uptime; echo "$u"; }

# result NAME PASS|FAIL DETAIL... — one console line, newlines flattened.
result() {
    local name=$1 status=$2
    shift 2
    local detail="$*"
    detail=${detail//$'\n'/ | }
    echo "@@RESULT $name $status $detail"
}

# First lines of a file, flattened, for result details.
excerpt() {
    [[ -s $1 ]] || { echo "(empty)"; return; }
    head -c 300 "$1" | head -n "${2:-2}" | tr '\n' '|' | sed 's/|$//'
}

# ---------------------------------------------------------------------------------------------
# State snapshots: cgroups, mounts, processes.

list_cgroups() {
    local d
    shopt -s globstar
    for d in "$CG"/**/; do
        d=${d%/}
        [[ $d == "$CG" ]] && continue
        echo "${d#"$CG"}"
    done
    shopt -u globstar
}

list_mounts() { awk '{ print $5, $(NF-2), $(NF-1) }' /proc/self/mountinfo | sort; }

declare -A BASELINE=()   # cgroups that existed before the current case (relative to $CG)
declare -A ALLOWED=()    # cgroups that may stay after a run
ALLOWED[$RUKO_CGROUP_ROOT]=1

snapshot_baseline() {
    local c
    BASELINE=()
    while IFS= read -r c; do BASELINE[$c]=1; done < <(list_cgroups)
}

MOUNTS_BEFORE=$SCRATCH/mounts.before
list_mounts >"$MOUNTS_BEFORE"

# ---------------------------------------------------------------------------------------------
# Sampler: one line per new cgroup per tick, "PATH key=value ...".

sample_dir() {
    local d=$1 rel=$2 line k v a b n
    line=$rel
    if [[ -r $d/cgroup.procs ]]; then
        n=0
        while read -r _; do n=$((n + 1)); done <"$d/cgroup.procs"
        line+=" procs=$n"
    fi
    [[ -r $d/pids.current ]] && { read -r v <"$d/pids.current" && line+=" pids.current=$v"; }
    [[ -r $d/pids.max ]] && { read -r v <"$d/pids.max" && line+=" pids.max=$v"; }
    if [[ -r $d/pids.events ]]; then
        while read -r k v; do [[ $k == max ]] && line+=" pids.events.max=$v"; done <"$d/pids.events"
    fi
    [[ -r $d/cpu.max ]] && { read -r a b <"$d/cpu.max" && line+=" cpu.max=$a/$b"; }
    if [[ -r $d/cpu.stat ]]; then
        while read -r k v; do
            case $k in usage_usec | nr_periods | nr_throttled | throttled_usec) line+=" $k=$v" ;; esac
        done <"$d/cpu.stat"
    fi
    [[ -r $d/memory.max ]] && { read -r v <"$d/memory.max" && line+=" memory.max=$v"; }
    [[ -r $d/memory.swap.max ]] && { read -r v <"$d/memory.swap.max" && line+=" memory.swap.max=$v"; }
    [[ -r $d/memory.peak ]] && { read -r v <"$d/memory.peak" && line+=" memory.peak=$v"; }
    if [[ -r $d/memory.events ]]; then
        while read -r k v; do [[ $k == oom_kill ]] && line+=" memory.events.oom_kill=$v"; done <"$d/memory.events"
    fi
    echo "$line"
}

SAMPLER_PID=
SAMPLES=
TICK_FIFO=$SCRATCH/tick
mkfifo "$TICK_FIFO"

sampler_start() {
    SAMPLES=$SCRATCH/$1.samples
    (
        trap 'exit 0' TERM
        shopt -s globstar
        # a FIFO opened read-write never has data: "read -t" on it is a sleep without a fork
        exec {tick}<>"$TICK_FIFO"
        while :; do
            for d in "$CG"/**/; do
                d=${d%/}
                rel=${d#"$CG"}
                [[ -z $rel || -n ${BASELINE[$rel]:-} ]] && continue
                sample_dir "$d" "$rel"
            done
            read -r -t 0.1 -u "$tick" _
        done
    ) >"$SAMPLES" 2>/dev/null &
    SAMPLER_PID=$!
}

sampler_stop() {
    [[ -n $SAMPLER_PID ]] || return
    kill "$SAMPLER_PID" 2>/dev/null
    wait "$SAMPLER_PID" 2>/dev/null
    SAMPLER_PID=
    cp "$SAMPLES" "$OUT/" 2>/dev/null
}

# sample_max KEY [FILTER] — largest numeric value of KEY over the samples (0 if never seen); with
# FILTER (key=value), only over the samples of cgroups that had that setting.
sample_max() {
    awk -v k="$1" -v f=" ${2:-} " '
        f != "  " && index($0 " ", f) == 0 { next }
        { for (i = 2; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == k) { v = substr($i, n + 1) + 0; if (v > m) m = v } } }
        END { print m + 0 }' "$SAMPLES"
}

# Whether some sample had KEY=VALUE.
sample_has() { grep -qE -- " $1=$2( |\$)" "$SAMPLES"; }

# The distinct cgroups seen while the case ran.
sample_paths() { awk '{ print $1 }' "$SAMPLES" | sort -u | tr '\n' ' '; }

# ---------------------------------------------------------------------------------------------
# Running ruko-run.

RC=0
ELAPSED=0
CASE_STDOUT=
CASE_STDERR=

# run_ruko NAME ARGS... — runs "$RUKO_RUN" ARGS with stdin from /dev/null, stdout/stderr captured,
# the sampler running, and a guard against a hung ruko-run. Sets RC and ELAPSED (seconds).
run_ruko() {
    local name=$1 t0 t1
    shift
    CASE_STDOUT=$OUT/$name.stdout
    CASE_STDERR=$OUT/$name.stderr
    snapshot_baseline
    sampler_start "$name"
    t0=$EPOCHREALTIME
    timeout -s KILL "$RUN_GUARD" "$RUKO_RUN" "$@" </dev/null >"$CASE_STDOUT" 2>"$CASE_STDERR"
    RC=$?
    t1=$EPOCHREALTIME
    sampler_stop
    ELAPSED=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    if awk -v e="$ELAPSED" -v g="$RUN_GUARD" 'BEGIN { exit !(e >= g - 1) }'; then
        echo "ruko-vm: ruko-run did not return within ${RUN_GUARD}s and was killed by the harness" >>"$CASE_STDERR"
        RC=guard
    fi
}

# ---------------------------------------------------------------------------------------------
# Leftover checks after every run; everything found is also collected for the final case.

LEAKS=()

# check_clean — prints a description of what a run left behind (nothing if clean), then removes
# it so later cases start from a clean machine.
check_clean() {
    local found=() c p line procs=() cg
    # cgroups that appeared and are not the (allowed) root
    while IFS= read -r c; do
        [[ -n ${BASELINE[$c]:-} || -n ${ALLOWED[$c]:-} ]] && continue
        found+=("cgroup $c")
    done < <(list_cgroups)
    # processes outside the root cgroup (everything the harness starts stays in the root)
    for p in /proc/[0-9]*; do
        read -r line 2>/dev/null <"$p/cgroup" || continue
        [[ $line == "0::/" ]] && continue
        procs+=("${p#/proc/}:$(tr '\0' ' ' 2>/dev/null <"$p/cmdline" | head -c 40)[${line#0::}]")
    done
    ((${#procs[@]})) && found+=("processes ${procs[*]}")
    # mounts in the harness's namespace
    if ! diff -q "$MOUNTS_BEFORE" <(list_mounts) >/dev/null; then
        found+=("mounts $(diff "$MOUNTS_BEFORE" <(list_mounts) | grep '^[<>]' | tr '\n' ' ')")
    fi
    # files left in /run/ruko (empty directories, e.g. the rootfs mount point, may stay)
    if [[ -d /run/ruko ]] && [[ -n $(find /run/ruko -mindepth 1 ! -type d | head -1) ]]; then
        found+=("/run/ruko files: $(find /run/ruko -mindepth 1 ! -type d | head -5 | tr '\n' ' ')")
    fi
    if ((${#found[@]})); then
        LEAKS+=("${found[@]}")
        printf '%s; ' "${found[@]}"
        cleanup_leftovers
    fi
}

cleanup_leftovers() {
    local c
    # kill and remove new cgroups, deepest first
    while IFS= read -r c; do
        [[ -n ${BASELINE[$c]:-} || -n ${ALLOWED[$c]:-} ]] && continue
        echo 1 >"$CG$c/cgroup.kill" 2>/dev/null
    done < <(list_cgroups)
    sleep 0.3
    while IFS= read -r c; do
        [[ -n ${BASELINE[$c]:-} || -n ${ALLOWED[$c]:-} ]] && continue
        rmdir "$CG$c" 2>/dev/null
    done < <(list_cgroups | sort -r)
    # unmount new mounts, deepest first
    diff "$MOUNTS_BEFORE" <(list_mounts) | awk '/^>/ { print $2 }' | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    rm -rf /run/ruko/* 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# The cases. Each prints one @@RESULT line.

case_smoke() {
    run_ruko smoke -- sh -c 'echo hello from the sandbox; exit 3'
    local leak out
    leak=$(check_clean)
    out=$(head -c 100 "$CASE_STDOUT")
    if [[ $RC == 3 && $out == "hello from the sandbox" && -z $leak ]]; then
        result smoke PASS "exit 3 and stdout passed through (${ELAPSED}s)"
    else
        result smoke FAIL "expected exit 3 and 'hello from the sandbox': exit=$RC stdout='$(excerpt "$CASE_STDOUT")' stderr='$(excerpt "$CASE_STDERR")' ${leak:+leftovers: $leak}"
    fi
}

case_memory_within_limit() {
    run_ruko memory-within-limit --memory 64M -- python3 -c 'b = b"x" * (16 << 20); print(len(b))'
    local leak
    leak=$(check_clean)
    if [[ $RC == 0 && $(head -c 20 "$CASE_STDOUT") == 16777216 && -z $leak ]]; then
        result memory-within-limit PASS "16 MiB allocation under --memory 64M exits 0 (${ELAPSED}s)"
    else
        result memory-within-limit FAIL "expected exit 0: exit=$RC stdout='$(excerpt "$CASE_STDOUT")' stderr='$(excerpt "$CASE_STDERR")' ${leak:+leftovers: $leak}"
    fi
}

case_memory_oom() {
    run_ruko memory-oom --memory 64M -- python3 -c 'b = b"x" * (200 << 20); print("NOT KILLED")'
    local leak problems=() memmax ooms
    leak=$(check_clean)
    memmax=$(sample_has memory.max 67108864 && echo yes || echo no)
    ooms=$(sample_max memory.events.oom_kill)
    [[ $RC == 137 ]] || problems+=("exit $RC, expected 137")
    grep -qi 'out of memory' "$CASE_STDERR" || problems+=("stderr does not say 'out of memory'")
    grep -q 'NOT KILLED' "$CASE_STDOUT" && problems+=("the allocation succeeded")
    [[ -n $leak ]] && problems+=("leftovers: $leak")
    if ((${#problems[@]} == 0)); then
        result memory-oom PASS "exit 137, stderr: '$(grep -i -m1 'out of memory' "$CASE_STDERR" | head -c 160)' (memory.max=64M seen: $memmax, oom_kill seen: $ooms, ${ELAPSED}s)"
    else
        result memory-oom FAIL "$(printf '%s; ' "${problems[@]}")stderr='$(excerpt "$CASE_STDERR")' memory.max=64M seen: $memmax, oom_kill seen: $ooms"
    fi
}

case_pids_forkbomb() {
    # sleep keeps the command alive (the bomb's first function call returns at once); the bomb
    # then fills the pids limit until the timeout kills the cgroup.
    run_ruko pids-forkbomb --pids 32 --timeout 3s -- bash -c 'sleep 1000 & :(){ :|:& };:; wait'
    local leak problems=() peak events limited rejected
    leak=$(check_clean)
    peak=$(sample_max pids.current pids.max=32)
    events=$(sample_max pids.events.max)
    limited=$(sample_has pids.max 32 && echo yes || echo no)
    rejected=$(dmesg 2>/dev/null | grep -c 'fork rejected by pids controller')
    [[ $RC == 124 ]] || problems+=("exit $RC, expected 124 (timeout)")
    [[ $limited == yes ]] || problems+=("no cgroup with pids.max=32 was seen")
    ((events > 0)) || problems+=("pids.events max never went above 0 (limit never hit)")
    ((peak <= 32)) || problems+=("pids.current reached $peak > 32")
    ((peak > 0)) || problems+=("pids.current never sampled above 0")
    [[ -n $leak ]] && problems+=("leftovers: $leak")
    if ((${#problems[@]} == 0)); then
        result pids-forkbomb PASS "exit 124 after ${ELAPSED}s, peak pids.current=$peak<=32, pids.events max=$events, nothing left"
    else
        result pids-forkbomb FAIL "$(printf '%s; ' "${problems[@]}")elapsed=${ELAPSED}s peak=$peak events=$events dmesg-rejections=$rejected cgroups=[$(sample_paths)] stderr='$(excerpt "$CASE_STDERR")'"
    fi
}

case_cpu_throttle() {
    run_ruko cpu-throttle --cpus 0.2 --timeout 20s -- sh -c 'timeout 2 sh -c "while :; do :; done"; exit 0'
    local leak problems=() throttled usage periods quota ratio
    leak=$(check_clean)
    throttled=$(sample_max nr_throttled cpu.max=20000/100000)
    usage=$(sample_max usage_usec cpu.max=20000/100000)
    periods=$(sample_max nr_periods cpu.max=20000/100000)
    quota=$(sample_has cpu.max 20000/100000 && echo yes || echo no)
    # CPU used per 100 ms period with runnable tasks: the quota allows 20 ms (0.2 CPU); the busy
    # loop unthrottled would take ~100 ms. Wall-clock ratios are useless under a loaded TCG host.
    ratio=$(awk -v u="$usage" -v p="$periods" 'BEGIN { printf "%.2f", p ? u / (p * 100000) : 0 }')
    [[ $RC == 0 ]] || problems+=("exit $RC, expected 0")
    [[ $quota == yes ]] || problems+=("no cgroup with cpu.max '20000 100000' was seen")
    ((throttled > 0)) || problems+=("cpu.stat nr_throttled stayed 0")
    ((periods > 0)) || problems+=("cpu.stat nr_periods stayed 0")
    # 25% slack for tick-granular accounting, plus one period
    ((usage <= periods * 25000 + 20000)) || problems+=("usage_usec=$usage exceeds 0.2 CPU over $periods periods")
    [[ -n $leak ]] && problems+=("leftovers: $leak")
    if ((${#problems[@]} == 0)); then
        result cpu-throttle PASS "nr_throttled=$throttled of $periods periods, usage_usec=$usage (${ratio} CPU per period), cpu.max=20000/100000 (${ELAPSED}s)"
    else
        result cpu-throttle FAIL "$(printf '%s; ' "${problems[@]}")nr_throttled=$throttled nr_periods=$periods usage_usec=$usage cgroups=[$(sample_paths)] stderr='$(excerpt "$CASE_STDERR")'"
    fi
}

case_timeout_daemon() {
    run_ruko timeout-daemon --timeout 2s -- sh -c 'setsid sleep 1000 & sleep 1000'
    local leak problems=() left
    left=$(pgrep -f 'sleep 1000' | tr '\n' ' ')
    leak=$(check_clean)
    [[ $RC == 124 ]] || problems+=("exit $RC, expected 124")
    [[ -z $left ]] || problems+=("'sleep 1000' still running as pid $left")
    [[ -n $leak ]] && problems+=("leftovers: $leak")
    awk -v e="$ELAPSED" 'BEGIN { exit !(e < 10) }' || problems+=("took ${ELAPSED}s for a 2s timeout")
    if ((${#problems[@]} == 0)); then
        result timeout-daemon PASS "exit 124 after ${ELAPSED}s, no 'sleep 1000' left, cgroup removed"
    else
        result timeout-daemon FAIL "$(printf '%s; ' "${problems[@]}")elapsed=${ELAPSED}s stderr='$(excerpt "$CASE_STDERR")'"
    fi
}

# A cgroup root where pids cannot be enabled at all: its parent does not delegate pids.
NOPIDS_PARENT=/ruko-vm-nopids
NOPIDS_ROOT=$NOPIDS_PARENT/root

prepare_nopids_root() {
    mkdir -p "$CG$NOPIDS_ROOT" 2>/dev/null || mkdir "$CG$NOPIDS_PARENT" "$CG$NOPIDS_ROOT"
    # the parent delegates everything except pids (and the v2-only controllers we don't need)
    echo "+cpu +memory" >"$CG$NOPIDS_PARENT/cgroup.subtree_control"
    ALLOWED[$NOPIDS_PARENT]=1
    ALLOWED[$NOPIDS_ROOT]=1
}

case_missing_controller() {
    prepare_nopids_root
    local leak problems=() avail
    avail=$(cat "$CG$NOPIDS_ROOT/cgroup.controllers")
    run_ruko missing-controller --cgroup-root "$CG$NOPIDS_ROOT" --pids 10 -- true
    leak=$(check_clean)
    [[ $RC == 125 ]] || problems+=("exit $RC, expected 125")
    grep -q 'pids' "$CASE_STDERR" || problems+=("stderr does not name the pids controller")
    [[ -n $leak ]] && problems+=("leftovers: $leak")
    if ((${#problems[@]} == 0)); then
        result missing-controller PASS "exit 125, stderr: '$(excerpt "$CASE_STDERR" 1)' (root controllers: $avail)"
    else
        result missing-controller FAIL "$(printf '%s; ' "${problems[@]}")root controllers: [$avail] stderr='$(excerpt "$CASE_STDERR")'"
    fi

    run_ruko missing-controller-allowed --cgroup-root "$CG$NOPIDS_ROOT" --pids 10 --allow-missing-controllers -- true
    leak=$(check_clean)
    problems=()
    local lines
    lines=$(grep -c . "$CASE_STDERR")
    [[ $RC == 0 ]] || problems+=("exit $RC, expected 0")
    [[ $lines == 1 ]] || problems+=("stderr has $lines lines, expected a one-line warning")
    grep -q 'pids' "$CASE_STDERR" || problems+=("the warning does not name the pids controller")
    [[ -n $leak ]] && problems+=("leftovers: $leak")
    if ((${#problems[@]} == 0)); then
        result missing-controller-allowed PASS "exit 0, warning: '$(excerpt "$CASE_STDERR" 1)'"
    else
        result missing-controller-allowed FAIL "$(printf '%s; ' "${problems[@]}")stderr='$(excerpt "$CASE_STDERR" 3)'"
    fi
}

# A delegated root whose controllers are available but not yet enabled: ruko-run enables what
# the limits need (+pids in the root's cgroup.subtree_control) and the limit is applied.
DELEGATED_ROOT=/ruko-vm-delegated

case_controller_enabled_on_demand() {
    mkdir -p "$CG$DELEGATED_ROOT"
    ALLOWED[$DELEGATED_ROOT]=1
    local leak problems=() before after
    before=$(cat "$CG$DELEGATED_ROOT/cgroup.subtree_control")
    run_ruko controller-on-demand --cgroup-root "$CG$DELEGATED_ROOT" --pids 10 -- sleep 1
    leak=$(check_clean)
    after=$(cat "$CG$DELEGATED_ROOT/cgroup.subtree_control")
    [[ $RC == 0 ]] || problems+=("exit $RC, expected 0")
    [[ -s $CASE_STDERR ]] && problems+=("unexpected stderr")
    [[ " $after " == *" pids "* ]] || problems+=("pids not enabled in the root's subtree_control")
    sample_has pids.max 10 || problems+=("no cgroup with pids.max=10 was seen")
    [[ -n $leak ]] && problems+=("leftovers: $leak")
    if ((${#problems[@]} == 0)); then
        result controller-on-demand PASS "subtree_control [$before] -> [$after], pids.max=10 applied (${ELAPSED}s)"
    else
        result controller-on-demand FAIL "$(printf '%s; ' "${problems[@]}")subtree_control [$before] -> [$after] cgroups=[$(sample_paths)] stderr='$(excerpt "$CASE_STDERR")'"
    fi
}

case_no_leftovers() {
    local problems=() c children=()
    # the final state: nothing below the ruko cgroup root(s), no new mounts
    for c in "$CG$RUKO_CGROUP_ROOT" "$CG$NOPIDS_ROOT" "$CG$DELEGATED_ROOT"; do
        [[ -d $c ]] || continue
        for d in "$c"/*/; do children+=("${d#"$CG"}"); done
    done
    ((${#children[@]})) && problems+=("cgroups left under the roots: ${children[*]}")
    diff -q "$MOUNTS_BEFORE" <(list_mounts) >/dev/null || problems+=("mounts changed: $(diff "$MOUNTS_BEFORE" <(list_mounts) | grep '^[<>]' | tr '\n' ' ')")
    ((${#LEAKS[@]})) && problems+=("left behind by earlier runs: $(printf '%s; ' "${LEAKS[@]}")")
    if ((${#problems[@]} == 0)); then
        result no-leftovers PASS "after all runs: no cgroup under $RUKO_CGROUP_ROOT, $NOPIDS_ROOT or $DELEGATED_ROOT, mounts unchanged, no stray processes"
    else
        result no-leftovers FAIL "$(printf '%s; ' "${problems[@]}")"
    fi
}

# ---------------------------------------------------------------------------------------------

echo "@@ tests start guest_uptime=$(uptime_s)s ruko-run=$RUKO_RUN"
# the number of @@RESULT lines that follow; the host fails the run if fewer arrive
echo "@@PLAN 11"

# Preflight: the guest is what we claim it is, and ruko-run starts at all.
preflight=()
grep -q ' cgroup ' /proc/mounts && preflight+=("a cgroup v1 hierarchy is mounted")
[[ $(cat /proc/self/cgroup) == "0::/" ]] || preflight+=("/proc/self/cgroup is not pure v2: $(tr '\n' ' ' </proc/self/cgroup)")
for c in cpu memory pids; do
    grep -qw "$c" "$CG/cgroup.subtree_control" || preflight+=("controller $c not enabled at the root")
done
[[ -x $RUKO_RUN ]] || preflight+=("$RUKO_RUN is not executable in the guest")
command -v python3 >/dev/null || preflight+=("python3 missing")
if ((${#preflight[@]})); then
    result guest-environment FAIL "$(printf '%s; ' "${preflight[@]}")"
else
    result guest-environment PASS "kernel $(uname -r), cgroup2 only, subtree_control=[$(cat "$CG/cgroup.subtree_control")]"
fi

case_smoke
case_memory_within_limit
case_memory_oom
case_pids_forkbomb
case_cpu_throttle
case_timeout_daemon
case_missing_controller
case_controller_enabled_on_demand
case_no_leftovers

dmesg >"$OUT/dmesg.txt" 2>/dev/null
echo "@@ tests end guest_uptime=$(uptime_s)s"
exit 0
