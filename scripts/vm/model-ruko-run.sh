#!/bin/bash
# A shell model of ruko-run's resource-limit behaviour, used only to check the VM harness itself
# (that the guest cases can pass, and fail for the right reasons) independently of the Swift
# runtime:   RUKO_RUN=scripts/vm/model-ruko-run.sh scripts/vm/run-vm-tests.sh
# It does cgroups only: no namespaces, no rootfs, no capability drop, no seccomp, runs as root.
# It is not a sandbox and is never installed.
#
# Usage: model-ruko-run.sh [--memory SIZE] [--pids N] [--cpus F] [--timeout DURATION]
#                          [--allow-missing-controllers] [--cgroup-root PATH] -- CMD ARGS...
set -u

memory='' pids='' cpus='' timeout_s='' allow=0 root=/sys/fs/cgroup/ruko

fail() {
    echo "model-ruko-run: $*" >&2
    exit 125
}

while (($#)); do
    case $1 in
    --memory) memory=${2:?}; shift 2 ;;
    --pids) pids=${2:?}; shift 2 ;;
    --cpus) cpus=${2:?}; shift 2 ;;
    --timeout) timeout_s=${2:?}; shift 2 ;;
    --cgroup-root) root=${2:?}; shift 2 ;;
    --allow-missing-controllers) allow=1; shift ;;
    --) shift; break ;;
    *) fail "unknown option $1" ;;
    esac
done
(($#)) || fail "no command given"

bytes() {
    local n=${1%[KkMmGg]}
    case $1 in
    *[Kk]) echo $((n << 10)) ;; *[Mm]) echo $((n << 20)) ;; *[Gg]) echo $((n << 30)) ;; *) echo "$n" ;;
    esac
}

[[ -d $root ]] || mkdir -p "$root" || fail "cannot create the cgroup root $root"
needed=()
[[ -n $memory ]] && needed+=(memory)
[[ -n $pids ]] && needed+=(pids)
[[ -n $cpus ]] && needed+=(cpu)
available=" $(cat "$root/cgroup.controllers") "
for c in "${needed[@]}"; do
    if [[ $available != *" $c "* ]]; then
        if ((allow)); then
            echo "model-ruko-run: warning: the $c controller is not available in $root; running without the $c limit" >&2
            case $c in memory) memory= ;; pids) pids= ;; cpu) cpus= ;; esac
            continue
        fi
        fail "the $c controller is not available in $root (cgroup.controllers: ${available# }); enable it in the parent's cgroup.subtree_control or pass --allow-missing-controllers"
    fi
    echo "+$c" >"$root/cgroup.subtree_control" || fail "cannot enable the $c controller in $root"
done

cg=$root/model-$$
mkdir "$cg" || fail "cannot create $cg"
[[ -n $memory ]] && { bytes "$memory" >"$cg/memory.max"; echo 0 >"$cg/memory.swap.max"; }
[[ -n $pids ]] && echo "$pids" >"$cg/pids.max"
[[ -n $cpus ]] && awk -v c="$cpus" 'BEGIN { printf "%d 100000\n", c * 100000 }' >"$cg/cpu.max"

flag=/run/model-ruko-run.$$.timedout
bash -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' _ "$cg" "$@" &
child=$!
killer=
if [[ -n $timeout_s ]]; then
    (sleep "${timeout_s%s}" && touch "$flag" && echo 1 >"$cg/cgroup.kill") &
    killer=$!
fi
wait "$child" 2>/dev/null
rc=$?
[[ -n $killer ]] && kill "$killer" 2>/dev/null
[[ -e $flag ]] && rc=124
rm -f "$flag"
oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events" 2>/dev/null)
if [[ ${oom:-0} -gt 0 ]]; then
    echo "model-ruko-run: the command was killed: out of memory (memory limit $memory)" >&2
fi
echo 1 >"$cg/cgroup.kill"
for _ in $(seq 100); do
    grep -q 'populated 0' "$cg/cgroup.events" && rmdir "$cg" 2>/dev/null && break
    sleep 0.05
done
exit "$rc"
