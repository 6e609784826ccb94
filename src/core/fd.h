/*
 * fd: small helpers for blocking file descriptors (files written at
 * start-up or by parleyctl, never sockets, which go through conn).
 */
#ifndef PARLEY_CORE_FD_H
#define PARLEY_CORE_FD_H

#include <stddef.h>

/* Writes all `len` bytes, retrying short writes and EINTR: 0, or -1 with
 * errno set. */
int fd_write_all(int fd, const void *data, size_t len);

#endif
