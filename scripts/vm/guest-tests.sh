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
# shellcheck disable=SC2329 # the case functions are called by name from the CASES list

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

# Under TCG on a loaded host every exec costs 0.1-0.5 s, so the helpers below use bash builtins
# where they can; external tools run only to build failure details.

uptime_s() { local u _; read -r u _ </proc/uptime; echo "$u"; }

now_us() { echo "${EPOCHREALTIME/./}"; }

# fmt_us MICROSECONDS -> "S.CC"
fmt_us() { printf '%d.%02d' $(($1 / 1000000)) $(($1 % 1000000 / 10000)); }

# slurp FILE — REPLY = the file's contents ("" if unreadable).
slurp() {
    REPLY=
    IFS= read -r -d '' REPLY 2>/dev/null <"$1"
    return 0
}

# result NAME PASS|FAIL DETAIL... — one console line, newlines flattened.
result() {
    local name=$1 status=$2
    shift 2
    local detail="$*"
    detail=${detail//$'\n'/ | }
    echo "@@RESULT $name $status $detail"
}

# excerpt FILE [N] — the first N (default 2) lines of a file on one line, at most 300 characters.
excerpt() {
    local lines=() joined
    [[ -s $1 ]] || { echo "(empty)"; return; }
    mapfile -n "${2:-2}" -t lines <"$1"
    printf -v joined '%s | ' "${lines[@]}"
    joined=${joined% | }
    echo "${joined:0:300}"
}

# ---------------------------------------------------------------------------------------------
# State snapshots: cgroups, mounts, processes.

# collect_cgroups — CGROUPS = every cgroup below the root, relative to $CG ("/ruko/1-0").
collect_cgroups() {
    local d
    CGROUPS=()
    shopt -s globstar
    for d in "$CG"/**/; do
        d=${d%/}
        [[ $d == "$CG" ]] && continue
        CGROUPS+=("${d#"$CG"}")
    done
    shopt -u globstar
}

# mounts_now — REPLY = "mountpoint fstype source" per line, in /proc/self/mountinfo order.
mounts_now() {
    local _id _parent _dev _root mp rest fs
    REPLY=
    while read -r _id _parent _dev _root mp rest; do
        fs=${rest#* - }
        REPLY+="$mp ${fs% *}"$'\n'
    done </proc/self/mountinfo
}

declare -A BASELINE=() # cgroups that existed before the current case (relative to $CG)
declare -A ALLOWED=()  # cgroups that may stay after a run
ALLOWED[$RUKO_CGROUP_ROOT]=1

snapshot_baseline() {
    local c
    BASELINE=()
    collect_cgroups
    for c in "${CGROUPS[@]}"; do BASELINE[$c]=1; done
}

mounts_now
MOUNTS_BEFORE=$REPLY

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
}

# load_samples [FILTER] — MAX[key] = the largest numeric value of key over the case's samples;
# SEEN["key=value"] set for every limit setting seen. With FILTER (key=value), only the samples
# of cgroups that had that setting count. One awk per call.
declare -A MAX=() SEEN=()
load_samples() {
    local kind key value
    MAX=()
    SEEN=()
    while read -r kind key value; do
        case $kind in
        max) MAX[$key]=$value ;;
        seen) SEEN[$key]=1 ;;
        esac
    done < <(awk -v f=" ${1:-} " '
        f != "  " && index($0 " ", f) == 0 { next }
        {
            for (i = 2; i <= NF; i++) {
                n = index($i, "="); k = substr($i, 1, n - 1); v = substr($i, n + 1)
                if (v ~ /^[0-9]+$/ && (!(k in m) || v + 0 > m[k])) m[k] = v + 0
                if (k ~ /^(pids|cpu|memory|memory\.swap)\.max$/) seen[$i] = 1
            }
        }
        END { for (k in m) print "max", k, m[k]; for (s in seen) print "seen", s }' "$SAMPLES")
}

# The distinct cgroups seen while the case ran (for failure details).
sample_paths() { awk '{ print $1 }' "$SAMPLES" | sort -u | tr '\n' ' '; }

# ---------------------------------------------------------------------------------------------
# Running ruko-run.

RC=0
ELAPSED=0
ELAPSED_US=0
CASE_STDOUT=
CASE_STDERR=

# run_ruko NAME ARGS... — runs "$RUKO_RUN" ARGS with stdin from /dev/null, stdout/stderr captured,
# the sampler running, and a guard against a hung ruko-run. Sets RC and ELAPSED (seconds), then
# checks what the run left behind (LEAK).
run_ruko() {
    run_ruko_no_check "$@"
    check_clean
}

# run_ruko_no_check NAME ARGS... — run_ruko without the leftover check.
run_ruko_no_check() {
    local name=$1 t0
    shift
    CASE_STDOUT=$OUT/$name.stdout
    CASE_STDERR=$OUT/$name.stderr
    snapshot_baseline
    sampler_start "$name"
    t0=$(now_us)
    timeout -s KILL "$RUN_GUARD" "$RUKO_RUN" "$@" </dev/null >"$CASE_STDOUT" 2>"$CASE_STDERR"
    RC=$?
    ELAPSED_US=$(($(now_us) - t0))
    sampler_stop
    ELAPSED=$(fmt_us "$ELAPSED_US")
    if ((ELAPSED_US >= (RUN_GUARD - 1) * 1000000)); then
        echo "ruko-vm: ruko-run did not return within ${RUN_GUARD}s and was killed by the harness" >>"$CASE_STDERR"
        RC=guard
    fi
}

# ---------------------------------------------------------------------------------------------
# Leftover checks after every run; everything found is also collected for the final case.

LEAK=
LEAKS=()

# check_clean — LEAK = a description of what the last run left behind ("" if nothing), then
# removes it so later cases start from a clean machine.
check_clean() {
    local found=() c p line procs=() files=()
    # cgroups that appeared and are not an (allowed) root
    collect_cgroups
    for c in "${CGROUPS[@]}"; do
        [[ -n ${BASELINE[$c]:-} || -n ${ALLOWED[$c]:-} ]] && continue
        found+=("cgroup $c")
    done
    # processes outside the root cgroup (everything the harness starts stays in the root)
    for p in /proc/[0-9]*; do
        read -r line 2>/dev/null <"$p/cgroup" || continue
        [[ $line == "0::/" ]] && continue
        slurp "$p/cmdline"
        procs+=("${p#/proc/}:${REPLY//$'\0'/ }[${line#0::}]")
    done
    if ((${#procs[@]} > 5)); then
        found+=("${#procs[@]} processes: ${procs[*]:0:5} ...")
    elif ((${#procs[@]})); then
        found+=("processes: ${procs[*]}")
    fi
    # mounts in the harness's namespace
    mounts_now
    if [[ $REPLY != "$MOUNTS_BEFORE" ]]; then
        found+=("mounts $(diff <(printf '%s' "$MOUNTS_BEFORE") <(printf '%s' "$REPLY") | grep '^[<>]' | tr '\n' ' ')")
    fi
    # files left in /run/ruko (empty directories, e.g. the rootfs mount point, may stay)
    if [[ -d /run/ruko ]]; then
        shopt -s globstar dotglob
        for p in /run/ruko/**; do [[ -d $p && ! -L $p ]] || files+=("$p"); done
        shopt -u globstar dotglob
        ((${#files[@]})) && found+=("files in /run/ruko: ${files[*]:0:5}")
    fi
    LEAK=
    if ((${#found[@]})); then
        printf -v LEAK '%s; ' "${found[@]}"
        LEAKS+=("$LEAK")
        cleanup_leftovers
    fi
}

cleanup_leftovers() {
    local c i m
    # kill and remove new cgroups, deepest first
    collect_cgroups
    for c in "${CGROUPS[@]}"; do
        [[ -n ${BASELINE[$c]:-} || -n ${ALLOWED[$c]:-} ]] && continue
        echo 1 >"$CG$c/cgroup.kill" 2>/dev/null
    done
    sleep 0.3
    for ((i = ${#CGROUPS[@]} - 1; i >= 0; i--)); do
        c=${CGROUPS[i]}
        [[ -n ${BASELINE[$c]:-} || -n ${ALLOWED[$c]:-} ]] && continue
        rmdir "$CG$c" 2>/dev/null
    done
    # unmount new mounts, most recent first
    mounts_now
    diff <(printf '%s' "$MOUNTS_BEFORE") <(printf '%s' "$REPLY") | awk '/^>/ { print $2 }' | tac | while read -r m; do
        umount -l "$m" 2>/dev/null
    done
    rm -rf /run/ruko/* 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# The cases. Each prints one @@RESULT line.

case_smoke() {
    run_ruko smoke -- sh -c 'echo hello from the sandbox; exit 3'
    slurp "$CASE_STDOUT"
    if [[ $RC == 3 && $REPLY == $'hello from the sandbox\n' && -z $LEAK ]]; then
        result smoke PASS "exit 3 and stdout passed through (${ELAPSED}s)"
    else
        result smoke FAIL "expected exit 3 and 'hello from the sandbox': exit=$RC stdout='$(excerpt "$CASE_STDOUT")' stderr='$(excerpt "$CASE_STDERR")' ${LEAK:+leftovers: $LEAK}"
    fi
}

case_memory_within_limit() {
    run_ruko memory-within-limit --memory 64M -- python3 -c 'b = b"x" * (16 << 20); print(len(b))'
    slurp "$CASE_STDOUT"
    if [[ $RC == 0 && $REPLY == $'16777216\n' && -z $LEAK ]]; then
        result memory-within-limit PASS "16 MiB allocation under --memory 64M exits 0 (${ELAPSED}s)"
    else
        result memory-within-limit FAIL "expected exit 0: exit=$RC stdout='$(excerpt "$CASE_STDOUT")' stderr='$(excerpt "$CASE_STDERR")' ${LEAK:+leftovers: $LEAK}"
    fi
}

case_memory_oom() {
    run_ruko memory-oom --memory 64M -- python3 -c 'b = b"x" * (200 << 20); print("NOT KILLED")'
    local problems=() line oom_line=
    load_samples
    [[ $RC == 137 ]] || problems+=("exit $RC, expected 137")
    [[ -n ${SEEN[memory.max=67108864]:-} ]] || problems+=("no cgroup with memory.max=67108864 was seen")
    [[ -n ${SEEN[memory.swap.max=0]:-} ]] || problems+=("no cgroup with memory.swap.max=0 was seen")
    while IFS= read -r line; do
        [[ ${line,,} == *"out of memory"* ]] && { oom_line=$line; break; }
    done <"$CASE_STDERR"
    [[ -n $oom_line ]] || problems+=("stderr does not say 'out of memory'")
    slurp "$CASE_STDOUT"
    [[ $REPLY == *"NOT KILLED"* ]] && problems+=("the allocation succeeded")
    [[ -n $LEAK ]] && problems+=("leftovers: $LEAK")
    if ((${#problems[@]} == 0)); then
        result memory-oom PASS "exit 137, memory.max=64M and memory.swap.max=0 seen, stderr: '${oom_line:0:160}' (${ELAPSED}s)"
    else
        result memory-oom FAIL "$(printf '%s; ' "${problems[@]}")stderr='$(excerpt "$CASE_STDERR")' oom_kill seen: ${MAX[memory.events.oom_kill]:-0} cgroups=[$(sample_paths)]"
    fi
}

case_pids_forkbomb() {
    # sleep keeps the command alive (the bomb's first function call returns at once); the bomb
    # then fills the pids limit until the timeout kills the cgroup.
    run_ruko pids-forkbomb --pids 32 --timeout 3s -- bash -c 'sleep 1000 & :(){ :|:& };:; wait'
    local problems=() peak events limited
    load_samples
    events=${MAX[pids.events.max]:-0}
    limited=$([[ -n ${SEEN[pids.max=32]:-} ]] && echo yes || echo no)
    load_samples pids.max=32
    peak=${MAX[pids.current]:-0}
    [[ $RC == 124 ]] || problems+=("exit $RC, expected 124 (timeout)")
    [[ $limited == yes ]] || problems+=("no cgroup with pids.max=32 was seen")
    ((events > 0)) || problems+=("pids.events max never went above 0 (limit never hit)")
    ((peak <= 32)) || problems+=("pids.current reached $peak > 32")
    ((peak > 0)) || problems+=("pids.current never sampled above 0")
    # generous: under a starved TCG guest a 3 s timeout has been seen to take 8 s
    ((ELAPSED_US < 30000000)) || problems+=("took ${ELAPSED}s for a 3s timeout")
    [[ -n $LEAK ]] && problems+=("leftovers: $LEAK")
    if ((${#problems[@]} == 0)); then
        result pids-forkbomb PASS "exit 124 after ${ELAPSED}s, peak pids.current=$peak<=32, pids.events max=$events, nothing left"
    else
        result pids-forkbomb FAIL "$(printf '%s; ' "${problems[@]}")elapsed=${ELAPSED}s peak=$peak events=$events dmesg-rejections=$(dmesg 2>/dev/null | grep -c 'fork rejected by pids controller') cgroups=[$(sample_paths)] stderr='$(excerpt "$CASE_STDERR")'"
    fi
}

case_orphans_killed() {
    # the command exits at once and leaves a fork bomb behind: ruko-run returns the command's
    # status without waiting for the timeout, and kills everything it left
    run_ruko orphans-killed --pids 32 --timeout 20s -- bash -c ':(){ :|:& };:'
    local problems=()
    # 124 would mean ruko-run waited for the orphans until the timeout
    [[ $RC == 0 ]] || problems+=("exit $RC, expected 0 (the command's own status)")
    [[ -n $LEAK ]] && problems+=("leftovers: $LEAK")
    if ((${#problems[@]} == 0)); then
        result orphans-killed PASS "exit 0 after ${ELAPSED}s, the orphaned fork bomb is gone"
    else
        result orphans-killed FAIL "$(printf '%s; ' "${problems[@]}")elapsed=${ELAPSED}s stderr='$(excerpt "$CASE_STDERR")'"
    fi
}

case_cpu_throttle() {
    run_ruko cpu-throttle --cpus 0.2 --timeout 20s -- sh -c 'timeout 2 sh -c "while :; do :; done"; exit 0'
    local problems=() throttled usage periods quota percent=0
    load_samples cpu.max=20000/100000
    throttled=${MAX[nr_throttled]:-0}
    usage=${MAX[usage_usec]:-0}
    periods=${MAX[nr_periods]:-0}
    quota=$([[ -n ${SEEN[cpu.max=20000/100000]:-} ]] && echo yes || echo no)
    # CPU used per 100 ms period with runnable tasks: the quota allows 20 ms (0.2 CPU); the busy
    # loop unthrottled would take ~100 ms. Wall-clock ratios are useless under a loaded TCG host.
    ((periods > 0)) && percent=$((usage / periods / 1000))
    [[ $RC == 0 ]] || problems+=("exit $RC, expected 0")
    [[ $quota == yes ]] || problems+=("no cgroup with cpu.max '20000 100000' was seen")
    ((throttled > 0)) || problems+=("cpu.stat nr_throttled stayed 0")
    ((periods > 0)) || problems+=("cpu.stat nr_periods stayed 0")
    # 25% slack for tick-granular accounting, plus one period
    ((usage <= periods * 25000 + 20000)) || problems+=("usage_usec=$usage exceeds 0.2 CPU over $periods periods")
    [[ -n $LEAK ]] && problems+=("leftovers: $LEAK")
    if ((${#problems[@]} == 0)); then
        result cpu-throttle PASS "nr_throttled=$throttled of $periods periods, usage_usec=$usage (${percent}% of a CPU per period), cpu.max=20000/100000 (${ELAPSED}s)"
    else
        result cpu-throttle FAIL "$(printf '%s; ' "${problems[@]}")nr_throttled=$throttled nr_periods=$periods usage_usec=$usage cgroups=[$(sample_paths)] stderr='$(excerpt "$CASE_STDERR")'"
    fi
}

case_timeout_daemon() {
    # checked right after ruko-run returns: the leftover scan has already killed stragglers
    local problems=() left
    run_ruko_no_check timeout-daemon --timeout 2s -- sh -c 'setsid sleep 1000 & sleep 1000'
    left=$(pgrep -f 'sleep 1000' | tr '\n' ' ')
    check_clean
    [[ $RC == 124 ]] || problems+=("exit $RC, expected 124")
    [[ -z $left ]] || problems+=("'sleep 1000' still running as pid $left")
    [[ -n $LEAK ]] && problems+=("leftovers: $LEAK")
    ((ELAPSED_US < 30000000)) || problems+=("took ${ELAPSED}s for a 2s timeout")
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
    # the parent delegates cpu and memory, not pids
    echo "+cpu +memory" >"$CG$NOPIDS_PARENT/cgroup.subtree_control"
    ALLOWED[$NOPIDS_PARENT]=1
    ALLOWED[$NOPIDS_ROOT]=1
}

case_missing_controller() {
    prepare_nopids_root
    local problems=() avail
    slurp "$CG$NOPIDS_ROOT/cgroup.controllers"
    avail=${REPLY%$'\n'}
    run_ruko missing-controller --cgroup-root "$CG$NOPIDS_ROOT" --pids 10 -- true
    slurp "$CASE_STDERR"
    [[ $RC == 125 ]] || problems+=("exit $RC, expected 125")
    [[ $REPLY == *pids* ]] || problems+=("stderr does not name the pids controller")
    [[ -n $LEAK ]] && problems+=("leftovers: $LEAK")
    if ((${#problems[@]} == 0)); then
        result missing-controller PASS "exit 125, stderr: '$(excerpt "$CASE_STDERR" 1)' (root controllers: $avail)"
    else
        result missing-controller FAIL "$(printf '%s; ' "${problems[@]}")root controllers: [$avail] stderr='$(excerpt "$CASE_STDERR")'"
    fi

}

case_missing_controller_allowed() {
    prepare_nopids_root
    local problems=() lines=()
    run_ruko missing-controller-allowed --cgroup-root "$CG$NOPIDS_ROOT" --pids 10 --allow-missing-controllers -- true
    mapfile -t lines <"$CASE_STDERR"
    slurp "$CASE_STDERR"
    [[ $RC == 0 ]] || problems+=("exit $RC, expected 0")
    ((${#lines[@]} == 1)) || problems+=("stderr has ${#lines[@]} lines, expected a one-line warning")
    [[ $REPLY == *pids* ]] || problems+=("the warning does not name the pids controller")
    [[ -n $LEAK ]] && problems+=("leftovers: $LEAK")
    if ((${#problems[@]} == 0)); then
        result missing-controller-allowed PASS "exit 0, warning: '$(excerpt "$CASE_STDERR" 1)'"
    else
        result missing-controller-allowed FAIL "$(printf '%s; ' "${problems[@]}")stderr='$(excerpt "$CASE_STDERR" 3)'"
    fi
}

# A delegated root whose controllers are available but not yet enabled: ruko-run enables what
# the limits need (+pids in the root's cgroup.subtree_control) and the limit is applied.
DELEGATED_ROOT=/ruko-vm-delegated

case_controller_on_demand() {
    mkdir -p "$CG$DELEGATED_ROOT"
    ALLOWED[$DELEGATED_ROOT]=1
    local problems=() before after
    slurp "$CG$DELEGATED_ROOT/cgroup.subtree_control"
    before=${REPLY%$'\n'}
    run_ruko controller-on-demand --cgroup-root "$CG$DELEGATED_ROOT" --pids 10 -- sleep 1
    slurp "$CG$DELEGATED_ROOT/cgroup.subtree_control"
    after=${REPLY%$'\n'}
    load_samples
    [[ $RC == 0 ]] || problems+=("exit $RC, expected 0")
    [[ -s $CASE_STDERR ]] && problems+=("unexpected stderr")
    [[ " $after " == *" pids "* ]] || problems+=("pids not enabled in the root's subtree_control")
    [[ -n ${SEEN[pids.max=10]:-} ]] || problems+=("no cgroup with pids.max=10 was seen")
    [[ -n $LEAK ]] && problems+=("leftovers: $LEAK")
    if ((${#problems[@]} == 0)); then
        result controller-on-demand PASS "subtree_control [$before] -> [$after], pids.max=10 applied (${ELAPSED}s)"
    else
        result controller-on-demand FAIL "$(printf '%s; ' "${problems[@]}")subtree_control [$before] -> [$after] cgroups=[$(sample_paths)] stderr='$(excerpt "$CASE_STDERR")'"
    fi
}

case_no_leftovers() {
    local problems=() c d children=()
    # the final state: nothing below the ruko cgroup root(s), no new mounts
    for c in "$CG$RUKO_CGROUP_ROOT" "$CG$NOPIDS_ROOT" "$CG$DELEGATED_ROOT"; do
        [[ -d $c ]] || continue
        for d in "$c"/*/; do children+=("${d#"$CG"}"); done
    done
    ((${#children[@]})) && problems+=("cgroups left under the roots: ${children[*]}")
    mounts_now
    [[ $REPLY == "$MOUNTS_BEFORE" ]] || problems+=("mounts changed: $(diff <(printf '%s' "$MOUNTS_BEFORE") <(printf '%s' "$REPLY") | grep '^[<>]' | tr '\n' ' ')")
    ((${#LEAKS[@]})) && problems+=("left behind by earlier runs (cleaned up by the harness): ${LEAKS[*]}")
    if ((${#problems[@]} == 0)); then
        result no-leftovers PASS "after all runs: no cgroup under $RUKO_CGROUP_ROOT, $NOPIDS_ROOT or $DELEGATED_ROOT, mounts unchanged, no stray processes"
    else
        result no-leftovers FAIL "$(printf '%s; ' "${problems[@]}")"
    fi
}

# ---------------------------------------------------------------------------------------------

# Every case function prints exactly one @@RESULT line named like the case. RUKO_VM_CASES (from
# config.env) selects a subset; no-leftovers always runs last.
ALL_CASES=(smoke memory-within-limit memory-oom pids-forkbomb orphans-killed cpu-throttle
    timeout-daemon missing-controller missing-controller-allowed controller-on-demand)
read -r -a CASES <<<"${RUKO_VM_CASES:-${ALL_CASES[*]}}"
for c in "${CASES[@]}"; do
    declare -F "case_${c//-/_}" >/dev/null || { result "$c" FAIL "no such case (known: ${ALL_CASES[*]})"; }
done

echo "@@ tests start guest_uptime=$(uptime_s)s ruko-run=$RUKO_RUN"
# the number of @@RESULT lines that follow (guest-environment, the cases, no-leftovers); the host
# fails the run if fewer arrive
echo "@@PLAN $((${#CASES[@]} + 2))"

# Preflight: the guest is what we claim it is.
preflight=()
grep -q ' cgroup ' /proc/mounts && preflight+=("a cgroup v1 hierarchy is mounted")
slurp /proc/self/cgroup
[[ $REPLY == $'0::/\n' ]] || preflight+=("/proc/self/cgroup is not pure v2: ${REPLY//$'\n'/ }")
slurp "$CG/cgroup.subtree_control"
subtree=${REPLY%$'\n'}
for c in cpu memory pids; do
    [[ " $subtree " == *" $c "* ]] || preflight+=("controller $c not enabled at the root")
done
[[ -x $RUKO_RUN ]] || preflight+=("$RUKO_RUN is not executable in the guest")
command -v python3 >/dev/null || preflight+=("python3 missing")
if ((${#preflight[@]})); then
    result guest-environment FAIL "$(printf '%s; ' "${preflight[@]}")"
else
    result guest-environment PASS "kernel $(uname -r), cgroup2 only, subtree_control=[$subtree]"
fi

for c in "${CASES[@]}"; do
    declare -F "case_${c//-/_}" >/dev/null && "case_${c//-/_}"
done
case_no_leftovers

dmesg >"$OUT/dmesg.txt" 2>/dev/null
cp "$SCRATCH"/*.samples "$OUT/" 2>/dev/null
echo "@@ tests end guest_uptime=$(uptime_s)s"
exit 0
