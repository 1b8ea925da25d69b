// Thin wrappers for variadic or unexported system calls that Swift cannot call directly.
#define _GNU_SOURCE
#include "ruko_shims.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int ruko_pidfd_send_signal(int pidfd, int sig) {
    return syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0 ? -errno : 0;
}

int ruko_pidfd_wait(int pidfd, int *status, int nohang) {
    siginfo_t info = {0};
    int flags = WEXITED | (nohang ? WNOHANG : 0);
    if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &info, flags) < 0) return -errno;
    if (info.si_pid == 0) return -EAGAIN;
    switch (info.si_code) {
    case CLD_EXITED:
        *status = (info.si_status & 0xff) << 8;
        break;
    case CLD_KILLED:
        *status = info.si_status & 0x7f;
        break;
    case CLD_DUMPED:
        *status = (info.si_status & 0x7f) | 0x80;
        break;
    default:
        *status = 0;
    }
    return 0;
}

int ruko_pidfd_open(pid_t pid) {
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

int ruko_have_mount_setattr(void) {
    struct mount_attr attr = {0};
    long rc = syscall(SYS_mount_setattr, -1, "", 0, &attr, sizeof attr);
    return rc < 0 && errno == ENOSYS ? 0 : 1;
}

int ruko_capbset_read(int cap) {
    int rc = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
    return rc < 0 ? -errno : rc;
}

int ruko_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) < 0 ? -errno : 0; }

int ruko_set_nonblocking(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    return fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

int ruko_set_cloexec(int fd) { return fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ? -errno : 0; }

int ruko_eventfd(void) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

// Cancellation on signals: the handler only stores the number and writes to an eventfd, both
// async-signal-safe; whoever polls the eventfd does the real work outside the handler.
static volatile int cancel_fd = -1;
static volatile sig_atomic_t cancel_signal = 0;

static void cancel_handler(int sig) {
    int saved = errno;
    if (cancel_signal == 0) cancel_signal = sig;
    uint64_t one = 1;
    if (cancel_fd >= 0) {
        ssize_t n = write(cancel_fd, &one, sizeof one);
        (void)n;
    }
    errno = saved;
}

int ruko_cancel_on_signals(int fd, const int *signals, size_t n) {
    cancel_fd = fd;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cancel_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < n; i++) {
        if (sigaction(signals[i], &sa, NULL) != 0) return -errno;
        sigaddset(&set, signals[i]);
    }
    // A parent may have left them blocked (a blocked SIGTERM would never arrive).
    return pthread_sigmask(SIG_UNBLOCK, &set, NULL) == 0 ? 0 : -EINVAL;
}

int ruko_cancel_signal(void) { return cancel_signal; }

void ruko_cancel_forget(int fd) {
    if (cancel_fd == fd) cancel_fd = -1;
}

int ruko_signalfd_for(const int *signals, size_t n) {
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < n; i++) sigaddset(&set, signals[i]);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -EINVAL;
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int ruko_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    if (n < 0) return errno == EAGAIN ? 0 : -errno;
    return n == (ssize_t)sizeof info ? (int)info.ssi_signo : 0;
}

void ruko_unblock_signals(const int *signals, size_t n) {
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < n; i++) sigaddset(&set, signals[i]);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int ruko_fionread(int fd) {
    int n = 0;
    return ioctl(fd, FIONREAD, &n) < 0 ? -errno : n;
}

int ruko_errno(void) { return errno; }

long ruko_statfs_type(const char *path) {
    struct statfs st;
    return statfs(path, &st) < 0 ? -errno : (long)st.f_type;
}

int ruko_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0; }

int ruko_memfd(const char *name) {
    int fd = memfd_create(name, MFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}
