// File-system calls RukoArchive needs that Swift cannot call directly (variadic or GNU-only).
// Every function is prefixed `rukoarchive_`; every pointer parameter carries a nullability annotation.
#ifndef RUKO_ARCHIVE_FILEOPS_H
#define RUKO_ARCHIVE_FILEOPS_H

#include <sys/types.h>

#pragma clang assume_nonnull begin

/// openat(2) with an explicit mode (the C function is variadic). Returns the fd or -1 with errno.
int rukoarchive_openat(int dirfd, const char *path, int flags, mode_t mode);

/// mkostemp(3): `template_path` ends in XXXXXX and is rewritten in place.
int rukoarchive_mkostemp(char *template_path, int flags);

/// Number of CPUs in this process's affinity mask, or 0 if unknown.
int rukoarchive_available_cpus(void);

#pragma clang assume_nonnull end

#endif
