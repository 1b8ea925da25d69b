#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

// libseccomp's actions are function-like macros Swift cannot import.
static inline uint32_t ruko_scmp_act_errno(uint16_t e) { return SCMP_ACT_ERRNO(e); }
static inline uint32_t ruko_scmp_act_allow(void) { return SCMP_ACT_ALLOW; }
static inline uint32_t ruko_scmp_act_kill_process(void) { return SCMP_ACT_KILL_PROCESS; }
static inline unsigned long ruko_tiocsti(void) { return TIOCSTI; }
static inline unsigned long ruko_tioclinux(void) { return TIOCLINUX; }
