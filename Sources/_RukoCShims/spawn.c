// The container's clone child and init. Async-signal-safe code only from the clone on:
// raw system calls, stack buffers, no allocation, no stdio, no locks.
#define _GNU_SOURCE
#include "ruko_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

// ---------------------------------------------------------------------------------------------
// Small async-signal-safe helpers.

static void report(int fd, int type, int stage, int err, int index, int status) {
    struct ruko_report r = {type, stage, err, index, status};
    ssize_t n;
    do {
        n = write(fd, &r, sizeof r);
    } while (n < 0 && errno == EINTR);
}

__attribute__((noreturn)) static void fail(int fd, int stage, int index) {
    report(fd, RUKO_REPORT_SETUP_ERROR, stage, errno, index, 0);
    _exit(125);
}

// Set from the config in the child: pretend mount_setattr does not exist (tests the fallback).
static int force_remount_fallback = 0;

static int sys_mount_setattr(const char *path, unsigned flags, uint64_t set, uint64_t clr) {
    if (force_remount_fallback) {
        errno = ENOSYS;
        return -1;
    }
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = set;
    attr.attr_clr = clr;
    return (int)syscall(SYS_mount_setattr, AT_FDCWD, path, flags, &attr, sizeof attr);
}

// Fallback for kernels without mount_setattr: a bind remount that repeats the flags the mount
// already has (the kernel refuses to clear locked ones) plus the requested read-only bit.
static int remount_keep_flags(const char *path, uint64_t set, uint64_t clr) {
    struct statfs st;
    if (statfs(path, &st) < 0) return -1;
    unsigned long flags = MS_BIND | MS_REMOUNT;
    if (st.f_flags & ST_RDONLY) flags |= MS_RDONLY;
    if (st.f_flags & ST_NOSUID) flags |= MS_NOSUID;
    if (st.f_flags & ST_NODEV) flags |= MS_NODEV;
    if (st.f_flags & ST_NOEXEC) flags |= MS_NOEXEC;
    if (st.f_flags & ST_NOATIME) flags |= MS_NOATIME;
    if (st.f_flags & ST_NODIRATIME) flags |= MS_NODIRATIME;
    if (st.f_flags & ST_RELATIME) flags |= MS_RELATIME;
    if (set & MOUNT_ATTR_RDONLY) flags |= MS_RDONLY;
    if (set & MOUNT_ATTR_NOSUID) flags |= MS_NOSUID;
    if (set & MOUNT_ATTR_NODEV) flags |= MS_NODEV;
    if (set & MOUNT_ATTR_NOEXEC) flags |= MS_NOEXEC;
    if (clr & MOUNT_ATTR_RDONLY) flags &= ~(unsigned long)MS_RDONLY;
    return mount(NULL, path, NULL, flags, NULL);
}

// Copies mountinfo's octal-escaped field (`\040` for a space) into out; returns its length or -1.
static int unescape_field(const char *in, size_t len, char *out, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '\\' && i + 3 < len) {
            c = (char)(((in[i + 1] - '0') << 6) | ((in[i + 2] - '0') << 3) | (in[i + 3] - '0'));
            i += 3;
        }
        if (o + 1 >= cap) return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (int)o;
}

// Without mount_setattr: remount `target` and every mount below it, each keeping its own flags.
// Reads /proc/self/mountinfo into a static buffer (this process's own copy; no allocation).
static char mountinfo_buf[1 << 20];

static int remount_tree_keep_flags(const char *target, uint64_t set, uint64_t clr) {
    if (remount_keep_flags(target, set, clr) < 0) return -1;
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, mountinfo_buf + used, sizeof mountinfo_buf - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += (size_t)n;
        if (used >= sizeof mountinfo_buf - 1) {
            close(fd);
            errno = E2BIG;
            return -1;
        }
    }
    close(fd);
    mountinfo_buf[used] = '\0';
    size_t tlen = strlen(target);
    char point[4096];
    for (char *line = mountinfo_buf; line && *line;) {
        char *next = strchr(line, '\n');
        if (next) *next++ = '\0';
        // Field 5 (1-based) is the mount point.
        char *f = line;
        for (int i = 0; i < 4 && f; i++) {
            f = strchr(f, ' ');
            if (f) f++;
        }
        char *end = f ? strchr(f, ' ') : NULL;
        if (f && end && unescape_field(f, (size_t)(end - f), point, sizeof point) > 0 &&
            strncmp(point, target, tlen) == 0 && point[tlen] == '/') {
            if (remount_keep_flags(point, set, clr) < 0 && errno != EACCES && errno != ENOENT) return -1;
        }
        line = next;
    }
    return 0;
}

static int path_exists(const char *path, struct stat *st) { return lstat(path, st) == 0; }

static int run_op(const struct ruko_mount_op *op) {
    struct stat st;
    switch (op->kind) {
    case RUKO_OP_MKDIR:
        if (mkdir(op->target, op->mode) < 0 && errno != EEXIST) return -1;
        return 0;
    case RUKO_OP_MKFILE: {
        int fd = open(op->target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, op->mode ? op->mode : 0644);
        if (fd < 0) return -1;
        close(fd);
        return 0;
    }
    case RUKO_OP_SYMLINK:
        if (symlink(op->source, op->target) < 0 && errno != EEXIST) return -1;
        return 0;
    case RUKO_OP_MOUNT:
        if (mkdir(op->target, 0755) < 0 && errno != EEXIST) return -1;
        return mount(op->source, op->target, op->fstype, op->flags, op->data);
    case RUKO_OP_BIND: {
        if (stat(op->source, &st) < 0) {
            if (op->optional && errno == ENOENT) return 0;
            return -1;
        }
        if (S_ISDIR(st.st_mode)) {
            if (mkdir(op->target, 0755) < 0 && errno != EEXIST) return -1;
        } else {
            int fd = open(op->target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
            if (fd < 0 && errno != EEXIST) return -1;
            if (fd >= 0) close(fd);
        }
        unsigned long flags = MS_BIND | (op->recursive ? MS_REC : 0);
        if (mount(op->source, op->target, NULL, flags, NULL) < 0) return -1;
        // Extra flags (nosuid, nodev, ...) need a remount; keep what the kernel locked.
        if (op->flags & (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)) {
            uint64_t set = 0;
            if (op->flags & MS_NOSUID) set |= MOUNT_ATTR_NOSUID;
            if (op->flags & MS_NODEV) set |= MOUNT_ATTR_NODEV;
            if (op->flags & MS_NOEXEC) set |= MOUNT_ATTR_NOEXEC;
            if (op->flags & MS_RDONLY) set |= MOUNT_ATTR_RDONLY;
            unsigned rec = op->recursive ? AT_RECURSIVE : 0;
            if (sys_mount_setattr(op->target, rec, set, 0) < 0) {
                if (errno != ENOSYS) return -1;
                return op->recursive ? remount_tree_keep_flags(op->target, set, 0) : remount_keep_flags(op->target, set, 0);
            }
        }
        return 0;
    }
    case RUKO_OP_SETATTR:
        if (!path_exists(op->target, &st)) return op->optional && errno == ENOENT ? 0 : -1;
        if (sys_mount_setattr(op->target, op->recursive ? AT_RECURSIVE : 0, op->attr_set, op->attr_clr) < 0) {
            if (errno != ENOSYS) return -1;
            return op->recursive ? remount_tree_keep_flags(op->target, op->attr_set, op->attr_clr)
                                 : remount_keep_flags(op->target, op->attr_set, op->attr_clr);
        }
        return 0;
    case RUKO_OP_WRITEFILE: {
        if (op->source == NULL || op->data == NULL) {
            errno = EINVAL;
            return -1;
        }
        // A symlink or directory at target would be followed or mounted over: refuse both.
        int target_exists = lstat(op->target, &st) == 0;
        if (!target_exists && errno != ENOENT) return -1;
        if (target_exists && !S_ISREG(st.st_mode)) {
            errno = S_ISDIR(st.st_mode) ? EISDIR : ELOOP;
            return -1;
        }
        int fd = open(op->source, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) return -1;
        size_t len = strlen(op->data), done = 0;
        while (done < len) {
            ssize_t n = write(fd, op->data + done, len - done);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                int e = n < 0 ? errno : EIO;
                close(fd);
                errno = e;
                return -1;
            }
            done += (size_t)n;
        }
        if (fchmod(fd, op->mode ? op->mode : 0644) < 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        close(fd);
        if (!target_exists) {
            int tfd = open(op->target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
            if (tfd < 0) return -1;
            close(tfd);
        }
        if (mount(op->source, op->target, NULL, MS_BIND, NULL) < 0) return -1;
        return unlink(op->source);
    }
    case RUKO_OP_MASK:
        if (!path_exists(op->target, &st)) return errno == ENOENT ? 0 : -1;
        if (S_ISDIR(st.st_mode))
            return mount("tmpfs", op->target, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                         "size=0,mode=0555");
        return mount("/dev/null", op->target, NULL, MS_BIND, NULL);
    default:
        errno = EINVAL;
        return -1;
    }
}

static int loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(s);
    errno = saved;
    return rc;
}

static void reset_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++) {
        if (s == SIGKILL || s == SIGSTOP) continue;
        sigaction(s, &sa, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

// Best-effort write of a short string to a /proc file.
static void write_proc(const char *path, const char *value) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n = write(fd, value, strlen(value));
    (void)n;
    close(fd);
}

// Moves fd to a number >= 3 that is not one of the stdio slots (F_DUPFD_CLOEXEC from 3 up).
static int lift_fd(int fd) { return fd < 3 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : fd; }

static int mark_fds_cloexec_from(unsigned first) {
    if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return 0;
    if (errno != ENOSYS && errno != EINVAL) return -1;
    struct rlimit rl;
    unsigned max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < max)
        max = (unsigned)rl.rlim_cur;
    for (unsigned fd = first; fd < max; fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// The command (PID 2 inside): drop everything, then execve.

static void exec_command(const struct ruko_spawn_config *cfg, int rfd) {
    const char *file = cfg->argv[0];
    char *const *argv = (char *const *)cfg->argv;
    char *const *envp = (char *const *)cfg->envp;
    if (file == NULL || file[0] == '\0') {
        errno = ENOENT;
        return;
    }
    if (strchr(file, '/') != NULL) {
        execve(file, argv, envp);
        return;
    }
    // PATH search, like execvp: remember EACCES, keep going past ENOENT/ENOTDIR.
    char buf[4096];
    size_t flen = strlen(file);
    int seen_eacces = 0;
    const char *p = cfg->path;
    for (;;) {
        const char *end = strchr(p, ':');
        size_t dlen = end ? (size_t)(end - p) : strlen(p);
        if (dlen == 0) {
            buf[0] = '.';
            dlen = 1;
        } else if (dlen < sizeof buf) {
            memcpy(buf, p, dlen);
        }
        if (dlen + 1 + flen + 1 <= sizeof buf) {
            buf[dlen] = '/';
            memcpy(buf + dlen + 1, file, flen + 1);
            execve(buf, argv, envp);
            if (errno == EACCES) seen_eacces = 1;
            else if (errno != ENOENT && errno != ENOTDIR) return;
        }
        if (!end) break;
        p = end + 1;
    }
    errno = seen_eacces ? EACCES : ENOENT;
    (void)rfd;
}

__attribute__((noreturn)) static void command_main(const struct ruko_spawn_config *cfg, int rfd) {
    reset_signals();
    if (setsid() < 0) fail(rfd, RUKO_STAGE_SETSID, -1);

    // stdio: lift every source above 2 first so the dup2s cannot clobber one another.
    int src[3];
    for (int i = 0; i < 3; i++) {
        src[i] = lift_fd(cfg->stdio[i]);
        if (src[i] < 0) fail(rfd, RUKO_STAGE_STDIO, i);
    }
    for (int i = 0; i < 3; i++)
        if (dup2(src[i], i) < 0) fail(rfd, RUKO_STAGE_STDIO, i);
    // No fd above 2 reaches the command: all are close-on-exec from here (the report pipe too).
    if (mark_fds_cloexec_from(3) < 0) fail(rfd, RUKO_STAGE_CLOSE_FDS, -1);

    for (size_t i = 0; i < cfg->n_rlimits; i++) {
        struct rlimit rl = {(rlim_t)cfg->rlimits[i].soft, (rlim_t)cfg->rlimits[i].hard};
        if (setrlimit(cfg->rlimits[i].resource, &rl) < 0) fail(rfd, RUKO_STAGE_RLIMIT, (int)i);
    }
    if (chdir(cfg->workdir) < 0) fail(rfd, RUKO_STAGE_CHDIR, -1);
    // init is exempt from the OOM killer; the command gets the ordinary score back.
    write_proc("/proc/self/oom_score_adj", "0");

    // Capabilities: bounding set and ambient set first (they need CAP_SETPCAP), then the ids,
    // then effective/permitted/inheritable to zero.
    for (int c = 0; c <= cfg->last_cap; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) fail(rfd, RUKO_STAGE_CAPBSET, c);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        fail(rfd, RUKO_STAGE_CAPBSET, -1);
    // Raw system calls, not glibc's wrappers: in a multi-threaded parent those broadcast the change
    // to every thread (SIGSETXID) under a lock another thread may have held at the clone, and hang.
    if (syscall(SYS_setgroups, cfg->n_groups, cfg->groups) < 0) fail(rfd, RUKO_STAGE_SETGROUPS, -1);
    if (syscall(SYS_setresgid, cfg->gid, cfg->gid, cfg->gid) < 0) fail(rfd, RUKO_STAGE_SETGID, -1);
    if (syscall(SYS_setresuid, cfg->uid, cfg->uid, cfg->uid) < 0) fail(rfd, RUKO_STAGE_SETUID, -1);
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) < 0) fail(rfd, RUKO_STAGE_CAPSET, -1);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail(rfd, RUKO_STAGE_NO_NEW_PRIVS, -1);

    // seccomp last: nothing but execve (and the failure report) runs after it.
    if (cfg->seccomp_filter != NULL && cfg->seccomp_len > 0) {
        struct sock_fprog prog = {(unsigned short)cfg->seccomp_len, (struct sock_filter *)cfg->seccomp_filter};
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) fail(rfd, RUKO_STAGE_SECCOMP, -1);
    }
    exec_command(cfg, rfd);
    report(rfd, RUKO_REPORT_EXEC_ERROR, 0, errno, -1, 0);
    _exit(127);
}

// ---------------------------------------------------------------------------------------------
// init (PID 1 inside): builds the root, starts the command, forwards signals, reaps.

static volatile sig_atomic_t command_pid = 0;

static void forward_signal(int sig) {
    int saved = errno;
    pid_t pid = command_pid;
    if (pid > 0 && kill(-pid, sig) < 0) kill(pid, sig);
    errno = saved;
}

static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};

__attribute__((noreturn)) static void init_main(const struct ruko_spawn_config *cfg, int rfd, int lifeline) {
    // Die with the parent; if it is already gone, stop here.
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(rfd, RUKO_STAGE_PARENT_GONE, -1);
    struct pollfd pfd = {lifeline, POLLIN, 0};
    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR))) _exit(125);
    close(lifeline);
    // The OOM killer must pick the command, never init: init's report is how the parent learns
    // the command's status. (Reset to 0 in the command; children inherit the value.)
    write_proc("/proc/self/oom_score_adj", "-1000");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof forwarded_signals / sizeof forwarded_signals[0]; i++)
        if (sigaction(forwarded_signals[i], &sa, NULL) < 0) fail(rfd, RUKO_STAGE_SIGNALS, (int)i);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    force_remount_fallback = cfg->force_remount_fallback;
    if (cfg->namespaces & CLONE_NEWNS) {
        // Nothing we mount propagates to the host; host unmounts still reach us.
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) fail(rfd, RUKO_STAGE_PROPAGATION, -1);
        if (mount("tmpfs", cfg->rootfs, "tmpfs", MS_NOSUID | MS_NODEV, cfg->rootfs_data) < 0)
            fail(rfd, RUKO_STAGE_ROOT_TMPFS, -1);
        for (size_t i = 0; i < cfg->n_ops; i++)
            if (run_op(&cfg->ops[i]) < 0) fail(rfd, RUKO_STAGE_MOUNT_OP, (int)i);
    }
    if (cfg->hostname != NULL && sethostname(cfg->hostname, strlen(cfg->hostname)) < 0)
        fail(rfd, RUKO_STAGE_HOSTNAME, -1);
    if (cfg->loopback_up && loopback_up() < 0) fail(rfd, RUKO_STAGE_LOOPBACK, -1);
    if (cfg->namespaces & CLONE_NEWNS) {
        if (chdir(cfg->rootfs) < 0) fail(rfd, RUKO_STAGE_PIVOT_ROOT, -1);
        if (syscall(SYS_pivot_root, ".", ".") < 0) fail(rfd, RUKO_STAGE_PIVOT_ROOT, -1);
        if (umount2(".", MNT_DETACH) < 0) fail(rfd, RUKO_STAGE_DETACH_OLD_ROOT, -1);
        if (chdir("/") < 0) fail(rfd, RUKO_STAGE_PIVOT_ROOT, -1);
        if (cfg->readonly_root && sys_mount_setattr("/", 0, MOUNT_ATTR_RDONLY, 0) < 0 &&
            (errno != ENOSYS || remount_keep_flags("/", MOUNT_ATTR_RDONLY, 0) < 0))
            fail(rfd, RUKO_STAGE_READONLY_ROOT, -1);
    }
    // Nothing in the container may open this process's /proc entries (its exe is the runtime).
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    // vfork: no atfork handlers (their locks may be held by the parent's threads) and no copy of
    // the runtime's address space (~0.3 ms of page tables and copy-on-write faults per start).
    // init waits, suspended, until the command execs or _exits; command_main only makes system
    // calls and writes its own stack (it never returns), and the kernel keeps a vfork child's
    // oom_score_adj to itself.
    pid_t pid = vfork();
    if (pid < 0) fail(rfd, RUKO_STAGE_FORK, -1);
    if (pid == 0) command_main(cfg, rfd);
    command_pid = (pid_t)pid;

    // init keeps only the report pipe: the command's stdio must see EOF when the command is done.
    int keep = rfd;
    for (int fd = 0; fd < 3; fd++)
        if (fd != keep) close(fd);
    if (keep > 3) syscall(SYS_close_range, 3, keep - 1, 0);
    syscall(SYS_close_range, keep + 1, ~0U, 0);

    for (;;) {
        int status = 0;
        pid_t got = waitpid(-1, &status, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            _exit(125);
        }
        if (got == (pid_t)pid) {
            report(rfd, RUKO_REPORT_EXIT, 0, 0, -1, status);
            // Leaving tears the namespace down: the kernel kills whatever the command left behind.
            _exit(0);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parent side.

struct ruko_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
        cgroup;
};

int ruko_spawn(const struct ruko_spawn_config *cfg, struct ruko_spawn_handle *out) {
    int rp[2], lp[2];
    if (pipe2(rp, O_CLOEXEC) < 0) return -errno;
    if (pipe2(lp, O_CLOEXEC) < 0) {
        int e = errno;
        close(rp[0]);
        close(rp[1]);
        return -e;
    }
    int pidfd = -1;
    struct ruko_clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = cfg->namespaces | CLONE_PIDFD | (cfg->cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
    args.pidfd = (uint64_t)(uintptr_t)&pidfd;
    args.exit_signal = SIGCHLD;
    args.cgroup = cfg->cgroup_fd >= 0 ? (uint64_t)cfg->cgroup_fd : 0;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) {
        close(rp[0]);
        close(lp[1]);
        init_main(cfg, rp[1], lp[0]);
    }
    int e = errno;
    close(rp[1]);
    close(lp[0]);
    if (pid < 0) {
        close(rp[0]);
        close(lp[1]);
        return -e;
    }
    out->pid = (int32_t)pid;
    out->pidfd = pidfd;
    out->report_fd = rp[0];
    out->lifeline_fd = lp[1];
    return 0;
}
