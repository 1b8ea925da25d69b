#!/bin/busybox sh
# /init of the ruko test VM (runs as PID 1 from the initramfs, busybox only).
#
# 1. mounts proc/sys/dev, loads the virtio + 9p (+ overlay) modules listed in /lib/modules/load.order
# 2. mounts the host root read-only over virtio-9p at /host (tag "hostroot") and the harness's
#    writable output directory at /out (tag "out")
# 3. builds the view ruko-run runs in: the host root (read-only) with fresh tmpfs on /run, /tmp and
#    /var/tmp, fresh proc/sys/dev, and a pure cgroup2 hierarchy at /sys/fs/cgroup with every
#    controller enabled in the root's cgroup.subtree_control (ruko_vm_root=overlay on the kernel
#    command line puts a tmpfs-backed overlay over the whole host root instead)
# 4. runs /guest-tests.sh inside that view (chroot, host bash) under a deadline, then powers off.
# Everything the host parses is a console line starting with "@@".

/bin/busybox --install -s /bin
export PATH=/bin

say() { echo "@@ $*"; }

# Reports a setup failure as a test result so the host summary counts it, then powers off.
fail_setup() {
    echo "@@RESULT guest-setup FAIL $*"
    finish
}

finish() {
    echo "@@DONE guest_uptime=$(cut -d' ' -f1 /proc/uptime)s"
    sync
    poweroff -f
    echo o >/proc/sysrq-trigger
    sleep 10
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say "init start guest_uptime=$(cut -d' ' -f1 /proc/uptime)s kernel=$(uname -r)"

while read -r m; do
    insmod "/lib/modules/$m" || fail_setup "insmod $m failed"
done </lib/modules/load.order

mkdir -p /host /out
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host \
    || fail_setup "cannot mount the host root over 9p (tag hostroot)"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /out \
    || fail_setup "cannot mount the output share over 9p (tag out)"

# The view the tests (and ruko-run) run in.
case "${ruko_vm_root:-ro}" in
ro)
    R=/host
    ;;
overlay)
    mkdir -p /ovl /newroot
    mount -t tmpfs -o mode=0755 tmpfs /ovl
    mkdir -p /ovl/upper /ovl/work
    mount -t overlay -o lowerdir=/host,upperdir=/ovl/upper,workdir=/ovl/work overlay /newroot \
        || fail_setup "cannot mount an overlay over the host root"
    R=/newroot
    ;;
*)
    fail_setup "unknown ruko_vm_root=${ruko_vm_root} (expected ro or overlay)"
    ;;
esac

mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$R/run" || fail_setup "tmpfs on $R/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/tmp" || fail_setup "tmpfs on $R/tmp"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/var/tmp" || fail_setup "tmpfs on $R/var/tmp"
mount -t proc proc "$R/proc" || fail_setup "proc on $R/proc"
mount -t sysfs sysfs "$R/sys" || fail_setup "sysfs on $R/sys"
mount -t devtmpfs devtmpfs "$R/dev" || fail_setup "devtmpfs on $R/dev"
mkdir -p "$R/dev/pts" "$R/dev/shm"
# devtmpfs has no /dev/fd links; bash process substitution needs them
ln -sf /proc/self/fd "$R/dev/fd"
ln -sf /proc/self/fd/0 "$R/dev/stdin"
ln -sf /proc/self/fd/1 "$R/dev/stdout"
ln -sf /proc/self/fd/2 "$R/dev/stderr"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$R/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$R/dev/shm"

# Pure cgroup v2: no v1 hierarchy is mounted anywhere in the guest (and cgroup_no_v1=all is on the
# kernel command line); every available controller is enabled for the root's children.
CG="$R/sys/fs/cgroup"
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 "$CG" || fail_setup "cannot mount cgroup2"
# shellcheck disable=SC2013 # one line of space-separated names
for c in $(cat "$CG/cgroup.controllers"); do
    echo "+$c" >"$CG/cgroup.subtree_control" || fail_setup "cannot enable the $c controller"
done
say "cgroup2 controllers=[$(cat "$CG/cgroup.controllers")] subtree_control=[$(cat "$CG/cgroup.subtree_control")]"

# The test script, its logs (visible on the host in the run's output directory), and the deadline.
mkdir -p "$R/run/ruko-vm/out"
cp /guest-tests.sh "$R/run/ruko-vm/guest-tests.sh"
mount --bind /out "$R/run/ruko-vm/out" || fail_setup "cannot bind the output share"
say "setup done guest_uptime=$(cut -d' ' -f1 /proc/uptime)s root=${ruko_vm_root:-ro}"

deadline=${ruko_vm_deadline:-150}
timeout "$deadline" chroot "$R" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    /bin/bash /run/ruko-vm/guest-tests.sh
rc=$?
case $rc in
0) ;;
124 | 143) echo "@@RESULT guest-deadline FAIL the guest tests did not finish within ${deadline}s" ;;
*) echo "@@RESULT guest-tests FAIL guest-tests.sh exited with status $rc" ;;
esac
finish
