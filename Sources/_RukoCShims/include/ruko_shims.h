// ruko's C shims: only what Swift cannot do safely.
//
// 1. The clone child. A child of clone/fork in a (possibly multi-threaded) Swift process may run
//    only async-signal-safe code: no allocation, no ARC, no locks. Everything it needs is prepared
//    by Swift in `struct ruko_spawn_config` (flat C strings and arrays); `ruko_spawn` clones and the
//    child runs `ruko_child_*` functions that make raw system calls only.
// 2. Variadic C functions Swift cannot call (syscall, prctl, ioctl, fcntl with arguments).
//
// Every function is prefixed `ruko_`; every pointer parameter carries a nullability annotation.
#ifndef RUKO_SHIMS_H
#define RUKO_SHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#pragma clang assume_nonnull begin

/// Kinds of steps in a mount plan, executed in order in the container's mount namespace.
enum ruko_op_kind {
    /// mkdir(target, mode); an existing directory is fine.
    RUKO_OP_MKDIR = 1,
    /// Create an empty regular file at target (a bind mount point for a file).
    RUKO_OP_MKFILE = 2,
    /// symlink(source, target).
    RUKO_OP_SYMLINK = 3,
    /// mount(source, target, fstype, flags, data).
    RUKO_OP_MOUNT = 4,
    /// Bind source on target (MS_BIND, plus MS_REC when recursive); the mount point is created
    /// (directory or file, like the source).
    RUKO_OP_BIND = 5,
    /// mount_setattr(target, attr_set, attr_clr), recursive when asked. Keeps every flag it is not
    /// told to change, so flags the kernel locked survive.
    RUKO_OP_SETATTR = 6,
    /// Hide target: /dev/null bound over a file, an empty read-only tmpfs over a directory.
    RUKO_OP_MASK = 7,
    /// Write `data` (NUL-terminated) to a new file at source (mode `mode`), bind it on target (a
    /// regular file, created when missing), then unlink source. The file's bind stays.
    RUKO_OP_WRITEFILE = 8,
};

/// One step of a mount plan. Paths are absolute host paths (targets already under the new root).
struct ruko_mount_op {
    int32_t kind;
    /// Skip the step (no error) when its source, or for MASK/SETATTR its target, does not exist.
    int32_t optional;
    const char *_Nullable source;
    const char *_Nullable target;
    const char *_Nullable fstype;
    const char *_Nullable data;
    uint64_t flags;
    uint64_t attr_set;
    uint64_t attr_clr;
    uint32_t mode;
    int32_t recursive;
};

/// A resource limit for the command (setrlimit).
struct ruko_rlimit {
    int32_t resource;
    uint64_t soft;
    uint64_t hard;
};

/// Everything the clone child needs, prepared by Swift before the clone.
struct ruko_spawn_config {
    /// CLONE_NEW* flags.
    uint64_t namespaces;
    /// cgroup v2 directory fd for CLONE_INTO_CGROUP, or -1.
    int32_t cgroup_fd;
    /// Directory on which the container's root tmpfs is mounted (inside the new mount namespace).
    const char *rootfs;
    /// tmpfs options for the root, e.g. "mode=0755,size=1m".
    const char *rootfs_data;
    const struct ruko_mount_op *_Nullable ops;
    size_t n_ops;
    /// Host name in the new UTS namespace, or NULL to keep it.
    const char *_Nullable hostname;
    /// Bring `lo` up (in a new network namespace).
    int32_t loopback_up;
    /// Remount the root read-only after pivot_root.
    int32_t readonly_root;
    /// Use bind remounts (walking /proc/self/mountinfo for submounts) even where mount_setattr
    /// exists: the path for kernels before 5.12, forced by tests.
    int32_t force_remount_fallback;

    /// The command: NULL-terminated argv and envp.
    const char *_Nullable const *_Nonnull argv;
    const char *_Nullable const *_Nonnull envp;
    /// PATH searched when argv[0] has no slash (the command's own PATH).
    const char *path;
    const char *workdir;
    uint32_t uid;
    uint32_t gid;
    const uint32_t *_Nullable groups;
    size_t n_groups;
    /// fds that become the command's 0, 1 and 2.
    int32_t stdio[3];
    const struct ruko_rlimit *_Nullable rlimits;
    size_t n_rlimits;
    /// Highest capability number to drop from the bounding set.
    int32_t last_cap;
    /// Classic BPF seccomp program (struct sock_filter[]) and its instruction count.
    const void *_Nullable seccomp_filter;
    size_t seccomp_len;
};

/// Records the container writes to the report pipe.
enum ruko_report_type {
    /// Setup failed in the container's init: `stage`, `err`, `index` (mount op index or -1).
    RUKO_REPORT_SETUP_ERROR = 1,
    /// execve of the command failed with `err`.
    RUKO_REPORT_EXEC_ERROR = 2,
    /// The command ended with wait status `status`.
    RUKO_REPORT_EXIT = 3,
};

/// Setup stages named in RUKO_REPORT_SETUP_ERROR records.
enum ruko_stage {
    RUKO_STAGE_PARENT_GONE = 1,
    RUKO_STAGE_PROPAGATION = 2,
    RUKO_STAGE_ROOT_TMPFS = 3,
    RUKO_STAGE_MOUNT_OP = 4,
    RUKO_STAGE_HOSTNAME = 5,
    RUKO_STAGE_LOOPBACK = 6,
    RUKO_STAGE_PIVOT_ROOT = 7,
    RUKO_STAGE_DETACH_OLD_ROOT = 8,
    RUKO_STAGE_READONLY_ROOT = 9,
    RUKO_STAGE_FORK = 10,
    RUKO_STAGE_STDIO = 11,
    RUKO_STAGE_SETSID = 12,
    RUKO_STAGE_RLIMIT = 13,
    RUKO_STAGE_CHDIR = 14,
    RUKO_STAGE_CAPBSET = 15,
    RUKO_STAGE_SETGROUPS = 16,
    RUKO_STAGE_SETGID = 17,
    RUKO_STAGE_SETUID = 18,
    RUKO_STAGE_CAPSET = 19,
    RUKO_STAGE_NO_NEW_PRIVS = 20,
    RUKO_STAGE_SECCOMP = 21,
    RUKO_STAGE_CLOSE_FDS = 22,
    RUKO_STAGE_SIGNALS = 23,
};

/// A fixed-size record on the report pipe.
struct ruko_report {
    int32_t type;
    int32_t stage;
    int32_t err;
    int32_t index;
    int32_t status;
};

/// What the parent keeps of a started container.
struct ruko_spawn_handle {
    /// The container's init (PID 1 inside), as seen from the parent.
    int32_t pid;
    /// pidfd of init.
    int32_t pidfd;
    /// Read end of the report pipe (CLOEXEC).
    int32_t report_fd;
    /// Write end of the parent-death pipe; closing it (or dying) makes a not-yet-started init exit.
    int32_t lifeline_fd;
};

/// Clones the container's init with the namespaces in `cfg` and runs it. Returns 0 and fills
/// `out`, or returns a negative errno (the clone3/pipe failure) in the parent.
int ruko_spawn(const struct ruko_spawn_config *cfg, struct ruko_spawn_handle *out);

/// pidfd_send_signal(2). Returns 0 or -errno.
int ruko_pidfd_send_signal(int pidfd, int sig);
/// waitid(P_PIDFD, pidfd, WEXITED). Returns 0 and stores the wait status, or -errno.
int ruko_pidfd_wait(int pidfd, int *status, int nohang);
/// pidfd_open(2). Returns the fd or -errno.
int ruko_pidfd_open(pid_t pid);
/// Whether mount_setattr(2) exists (1) or not (0).
int ruko_have_mount_setattr(void);
/// prctl(PR_CAPBSET_READ, cap): 1, 0, or -errno (EINVAL past the last capability).
int ruko_capbset_read(int cap);
/// prctl(PR_SET_PDEATHSIG, sig). Returns 0 or -errno.
int ruko_set_pdeathsig(int sig);
/// fcntl(fd, F_SETFL, flags | O_NONBLOCK). Returns 0 or -errno.
int ruko_set_nonblocking(int fd);
/// fcntl(fd, F_SETFD, FD_CLOEXEC). Returns 0 or -errno.
int ruko_set_cloexec(int fd);
/// eventfd(0, EFD_CLOEXEC|EFD_NONBLOCK). Returns the fd or -errno.
int ruko_eventfd(void);
/// Installs one process-wide handler for `signals` (n of them) that writes 1 to the eventfd `fd`
/// (and remembers the first signal), and unblocks them in the calling thread. Returns 0 or -errno.
int ruko_cancel_on_signals(int fd, const int *signals, size_t n);
/// The first signal the handler of ruko_cancel_on_signals caught, or 0.
int ruko_cancel_signal(void);
/// Stops the handler writing to `fd` (before it is closed, so a reused number is never written).
void ruko_cancel_forget(int fd);
/// Blocks `signals` (n of them) in the calling thread and returns a signalfd for them, or -errno.
int ruko_signalfd_for(const int *signals, size_t n);
/// Reads one signal number from a signalfd; 0 when none is pending, -errno on error.
int ruko_signalfd_read(int fd);
/// Unblocks `signals` in the calling thread.
void ruko_unblock_signals(const int *signals, size_t n);
/// ioctl(fd, FIONREAD). Returns the number of readable bytes or -errno.
int ruko_fionread(int fd);
/// statfs(path).f_type, or -errno.
long ruko_statfs_type(const char *path);
/// pipe2(fds, O_CLOEXEC). Returns 0 or -errno.
int ruko_pipe_cloexec(int fds[_Nonnull 2]);
/// memfd_create(name, MFD_CLOEXEC). Returns the fd or -errno.
int ruko_memfd(const char *name);
/// The calling thread's errno.
int ruko_errno(void);

#pragma clang assume_nonnull end

#endif
