#!/usr/bin/env bash
# Proves ruko-run's resource limits inside a guest kernel with a pure cgroup-v2 hierarchy.
#
# The development host has hybrid cgroups (cgroup2 at /sys/fs/cgroup/unified without controllers),
# so memory/pids/cpu limits cannot be observed on it. This script boots the installed Debian
# kernel (linux-image-amd64) under qemu TCG with a tiny busybox initramfs; the guest mounts the
# host root read-only over virtio-9p, mounts cgroup2 with every controller enabled, chroots into
# the host root (with fresh tmpfs on /run, /tmp, /var/tmp) and runs scripts/vm/guest-tests.sh
# against the freshly built ruko-run. Results come back on the serial console as
#   @@RESULT <name> PASS|FAIL <detail>
# and this script prints "N passed, M failed" and exits 0 only if every case passed and the VM
# powered off in time.
#
# Usage: scripts/vm/run-vm-tests.sh
# Environment:
#   RUKO_RUN            ruko-run binary to test (default: .build/debug/ruko-run in the repository;
#                       a relative path is looked up in the current directory, then the repository)
#   RUKO_VM_TIMEOUT     seconds before the VM is killed (default 170)
#   RUKO_VM_KERNEL      kernel version under /lib/modules and /boot (default: newest installed)
#   RUKO_VM_BUILD_DIR   cache and output directory (default: .build-vm in the repository)
#   RUKO_VM_ROOT        ro (default: read-only host root + tmpfs) | overlay (tmpfs overlay on it)
#   RUKO_VM_MEM, RUKO_VM_SMP    guest memory (default 1G) and CPUs (default 2)
#   RUKO_VM_CGROUP_ROOT ruko-run's default cgroup root, relative to /sys/fs/cgroup (default /ruko)
#   RUKO_VM_CASES       space-separated subset of the cases to run (default: all; see guest-tests.sh)
# Exit status: 0 all passed, 1 a case failed or the VM did not finish, 2 the harness could not run.
# Needs: qemu-system-x86 linux-image-amd64 busybox-static cpio python3 (Debian packages).

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
start=$EPOCHREALTIME

die() {
    echo "run-vm-tests: $*" >&2
    exit 2
}

elapsed() { awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

vm_timeout=${RUKO_VM_TIMEOUT:-170}
vm_mem=${RUKO_VM_MEM:-1G}
vm_smp=${RUKO_VM_SMP:-2}
vm_root=${RUKO_VM_ROOT:-ro}
build_dir=${RUKO_VM_BUILD_DIR:-$repo/.build-vm}
ruko_run=${RUKO_RUN:-.build/debug/ruko-run}
if ! [[ $vm_timeout =~ ^[0-9]+$ ]] || ((vm_timeout < 30)); then
    die "RUKO_VM_TIMEOUT must be a number of seconds >= 30, got '$vm_timeout'"
fi
[[ $vm_root == ro || $vm_root == overlay ]] || die "RUKO_VM_ROOT must be ro or overlay, got '$vm_root'"

# --- tools -------------------------------------------------------------------------------------
for tool in qemu-system-x86_64 cpio python3 sha256sum timeout; do
    command -v "$tool" >/dev/null || die "$tool not found; install qemu-system-x86, cpio, python3 (apt-get install ...)"
done
busybox=/bin/busybox
[[ -x $busybox ]] || die "$busybox not found; install busybox-static"
file_type=$(LC_ALL=C od -An -c -N4 "$busybox" | tr -d ' ')
[[ $file_type == '177ELF' ]] || die "$busybox is not an ELF binary"
if ldd "$busybox" >/dev/null 2>&1; then
    die "$busybox is dynamically linked; the initramfs needs busybox-static (apt-get install busybox-static)"
fi

# --- ruko-run ----------------------------------------------------------------------------------
# a relative RUKO_RUN is taken from the current directory, else from the repository
[[ $ruko_run == /* || -e $ruko_run ]] || ruko_run=$repo/$ruko_run
[[ -x $ruko_run ]] || die "$ruko_run is missing or not executable; build it first: swift build --product ruko-run"
ruko_run=$(realpath "$ruko_run")
# The guest sees the host root, but with its own tmpfs over these directories.
for hidden in /tmp /run /var/tmp /proc /sys /dev; do
    case $ruko_run/ in "$hidden"/*) die "$ruko_run is under $hidden, which the guest replaces with its own; build it elsewhere" ;; esac
    case $repo/ in "$hidden"/*) die "the repository $repo is under $hidden, which the guest replaces with its own" ;; esac
done

# --- kernel ------------------------------------------------------------------------------------
kver=${RUKO_VM_KERNEL:-}
if [[ -z $kver ]]; then
    kver=$(for m in /lib/modules/*/modules.dep; do
        v=${m#/lib/modules/}
        v=${v%/modules.dep}
        [[ -r /boot/vmlinuz-$v ]] && echo "$v"
    done | sort -V | tail -n1)
fi
[[ -n $kver ]] || die "no kernel with modules found in /boot and /lib/modules; apt-get install linux-image-amd64"
vmlinuz=/boot/vmlinuz-$kver
moddir=/lib/modules/$kver
[[ -r $vmlinuz && -r $moddir/modules.dep ]] || die "kernel $kver is incomplete: need $vmlinuz and $moddir/modules.dep"

mkdir -p "$build_dir"

# The uncompressed vmlinux boots through qemu's PVH entry, skipping the BIOS and decompression.
# Cached per kernel version (and the size+mtime of the vmlinuz, in case a package update reuses it).
kernel_id=$kver-$(stat -c '%s-%Y' "$vmlinuz")
vmlinux=$build_dir/vmlinux-$kernel_id
if [[ ! -s $vmlinux ]]; then
    echo "run-vm-tests: extracting $vmlinuz (once per kernel)"
    if python3 - "$vmlinuz" "$vmlinux.tmp.$$" <<'PY'; then
import lzma, sys
data = open(sys.argv[1], "rb").read()
start = data.find(b"\xfd7zXZ\x00")
if start < 0:
    sys.exit("no xz stream in the kernel image")
out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:])
if out[:4] != b"\x7fELF":
    sys.exit("the xz stream is not an ELF vmlinux")
open(sys.argv[2], "wb").write(out)
PY
        mv "$vmlinux.tmp.$$" "$vmlinux"
    else
        rm -f "$vmlinux.tmp.$$"
        echo "run-vm-tests: cannot extract vmlinux; booting the compressed image through the BIOS (slower)" >&2
        vmlinux=$vmlinuz
    fi
fi

# --- initramfs ---------------------------------------------------------------------------------
# Keyed by kernel, busybox and the scripts that end up in it.
key=$( {
    echo "$kernel_id"
    sha256sum "$busybox" "$here/guest-init.sh" "$here/guest-tests.sh" "$here/run-vm-tests.sh"
} | sha256sum | cut -c1-16)
initramfs=$build_dir/initramfs-$kver-$key.cpio
if [[ ! -s $initramfs ]]; then
    echo "run-vm-tests: building $initramfs"
    staging=$build_dir/initramfs.staging.$$
    rm -rf "$staging"
    mkdir -p "$staging"/{bin,dev,proc,sys,lib/modules}
    cp "$busybox" "$staging/bin/busybox"
    cp "$here/guest-init.sh" "$staging/init"
    cp "$here/guest-tests.sh" "$staging/guest-tests.sh"
    chmod 0755 "$staging/init" "$staging/guest-tests.sh"

    # The modules for virtio-9p and overlayfs with their dependencies, in load order.
    declare -A visited=()
    load_order=()
    add_module() { # $1 = path relative to $moddir, as in modules.dep
        [[ -n ${visited[$1]:-} ]] && return
        visited[$1]=1
        local deps dep
        deps=$(awk -v m="$1:" '$1 == m { $1 = ""; print; exit }' "$moddir/modules.dep")
        for dep in $deps; do add_module "$dep"; done
        load_order+=("$1")
    }
    for name in virtio_pci 9pnet_virtio 9p overlay; do
        path=$(awk -F: -v n="$name" '{ b = $1; sub(/.*\//, "", b); sub(/\.ko(\.xz|\.zst|\.gz)?$/, "", b); if (b == n) { print $1; exit } }' "$moddir/modules.dep")
        if [[ -z $path ]]; then
            # built into the kernel: nothing to load
            grep -qE "/$name\.ko" "$moddir/modules.builtin" 2>/dev/null && continue
            die "module $name not found in $moddir/modules.dep"
        fi
        add_module "$path"
    done
    : >"$staging/lib/modules/load.order"
    for path in "${load_order[@]}"; do
        base=${path##*/}
        case $base in
        *.ko.xz) xz -dc "$moddir/$path" >"$staging/lib/modules/${base%.xz}"; base=${base%.xz} ;;
        *.ko.zst) zstd -qdc "$moddir/$path" >"$staging/lib/modules/${base%.zst}"; base=${base%.zst} ;;
        *.ko.gz) gzip -dc "$moddir/$path" >"$staging/lib/modules/${base%.gz}"; base=${base%.gz} ;;
        *) cp "$moddir/$path" "$staging/lib/modules/$base" ;;
        esac
        echo "$base" >>"$staging/lib/modules/load.order"
    done
    (cd "$staging" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$initramfs.tmp.$$"
    mv "$initramfs.tmp.$$" "$initramfs"
    rm -rf "$staging"
    # drop initramfs images of older script versions
    for old in "$build_dir"/initramfs-*.cpio; do
        [[ $old == "$initramfs" ]] || rm -f "$old"
    done
fi

# --- run ---------------------------------------------------------------------------------------
out=$build_dir/run.$$
rm -rf "$out"
mkdir -p "$out"
{
    printf 'RUKO_RUN=%q\n' "$ruko_run"
    printf 'RUKO_REPO=%q\n' "$repo"
    [[ -n ${RUKO_VM_CGROUP_ROOT:-} ]] && printf 'RUKO_VM_CGROUP_ROOT=%q\n' "$RUKO_VM_CGROUP_ROOT"
    [[ -n ${RUKO_VM_CASES:-} ]] && printf 'RUKO_VM_CASES=%q\n' "$RUKO_VM_CASES"
} >"$out/config.env"
console=$out/console.log

echo "run-vm-tests: kernel $kver, ruko-run $ruko_run, TCG, ${vm_smp} CPUs, $vm_mem, timeout ${vm_timeout}s (prepared in $(elapsed)s)"
boot_start=$EPOCHREALTIME
set +e
# The guest's own deadline leaves time to report and power off before the host kills qemu.
timeout -k 5 "$vm_timeout" qemu-system-x86_64 \
    -accel tcg,thread=multi -cpu max -M pc -m "$vm_mem" -smp "$vm_smp" \
    -nodefaults -no-user-config -display none -serial stdio -no-reboot \
    -kernel "$vmlinux" -initrd "$initramfs" \
    -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=3 cgroup_no_v1=all ruko_vm_root=$vm_root ruko_vm_deadline=$((vm_timeout - 20))" \
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
    -virtfs "local,path=$out,mount_tag=out,security_model=none" \
    </dev/null 2>&1 | sed -u 's/\r$//' | tee "$console"
qemu_status=${PIPESTATUS[0]}
set -e
vm_seconds=$(awk -v a="$boot_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

rm -rf "$build_dir/last-run"
mv "$out" "$build_dir/last-run"
console=$build_dir/last-run/console.log

# --- verdict -----------------------------------------------------------------------------------
passed=0
failed=0
reported=0 # results of planned cases (not the harness's own guest-* failures)
failures=()
while IFS= read -r line; do
    read -r _ name status detail <<<"$line"
    case $name in guest-setup | guest-deadline | guest-tests) ;; *) reported=$((reported + 1)) ;; esac
    case $status in
    PASS) passed=$((passed + 1)) ;;
    *)
        failed=$((failed + 1))
        failures+=("$name: ${detail:-}")
        ;;
    esac
done < <(grep -ao '@@RESULT .*' "$console" || true)

plan=$(grep -ao '@@PLAN [0-9]*' "$console" | awk '{ print $2; exit }' || true)
problems=()
if ((qemu_status == 124 || qemu_status == 137)); then
    problems+=("the VM did not finish within ${vm_timeout}s")
elif ((qemu_status != 0)); then
    problems+=("qemu exited with status $qemu_status")
fi
grep -aq '@@DONE' "$console" || problems+=("the guest never reported @@DONE")
if [[ -z $plan ]]; then
    problems+=("the guest tests never started (no @@PLAN line)")
elif ((reported < plan)); then
    missing=$((plan - reported))
    failed=$((failed + missing))
    problems+=("$missing of $plan cases did not report")
fi

echo
for f in "${failures[@]}"; do echo "FAIL $f"; done
for p in "${problems[@]}"; do echo "ERROR $p"; done
errors=""
((${#problems[@]})) && errors=", ${#problems[@]} harness error(s)"
echo "$passed passed, $failed failed$errors (VM ${vm_seconds}s, total $(elapsed)s; logs in $build_dir/last-run)"
if ((failed > 0 || ${#problems[@]} > 0)); then
    exit 1
fi
exit 0
