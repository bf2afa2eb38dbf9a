// Linux-only kernel interfaces that Glibc's Swift module does not export.
// Used only from Sources/Channels/System.
#ifndef CLINUX_H
#define CLINUX_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <pthread.h>

// GNU extensions, declared here because Glibc's module is built without _GNU_SOURCE.
extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
extern int pthread_setname_np(pthread_t thread, const char *name);

static inline int CLinux_accept4(int fd, int flags) {
    return accept4(fd, 0, 0, flags);
}

static inline int CLinux_pthread_setname_np(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}

#endif
