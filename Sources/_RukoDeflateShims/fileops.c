#define _GNU_SOURCE
#include "ruko_archive_fileops.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>

int rukoarchive_openat(int dirfd, const char *path, int flags, mode_t mode) {
    return openat(dirfd, path, flags, mode);
}

int rukoarchive_mkostemp(char *template_path, int flags) { return mkostemp(template_path, flags); }

int rukoarchive_available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}
