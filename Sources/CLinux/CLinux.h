// Linux-only kernel interfaces that Glibc's Swift module does not export, and the few Swift
// runtime entry points the library calls directly.
// Used only from Sources/Channels/System.
#ifndef CLINUX_H
#define CLINUX_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

// GNU extensions, declared here because Glibc's module is built without _GNU_SOURCE.
extern int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
extern int pthread_setname_np(pthread_t thread, const char *name);

static inline int CLinux_accept4(int fd, int flags) {
    return accept4(fd, 0, 0, flags);
}

static inline int CLinux_pthread_setname_np(pthread_t thread, const char *name) {
    return pthread_setname_np(thread, name);
}

// recvmmsg/sendmmsg and their struct are GNU extensions too. The struct has the kernel's
// layout (a msghdr, then the byte count the kernel fills in); the calls go through syscall(2)
// so that no second declaration can clash with glibc's.
struct CLinux_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

static inline int CLinux_recvmmsg(int fd, struct CLinux_mmsghdr *messages, unsigned int count, int flags) {
    return (int)syscall(SYS_recvmmsg, fd, messages, count, flags, (void *)0);
}

static inline int CLinux_sendmmsg(int fd, struct CLinux_mmsghdr *messages, unsigned int count, int flags) {
    return (int)syscall(SYS_sendmmsg, fd, messages, count, flags);
}

// UDP generic segmentation offload (linux/udp.h), named here so no kernel header is needed.
#define CLinux_SOL_UDP 17
#define CLinux_UDP_SEGMENT 103
#define CLinux_UDP_GRO 104

// The Swift concurrency runtime's hook for jobs queued to the global executor
// (swift/Runtime/ConcurrencyHooks.def: `swift_task_enqueueGlobal`). Declared untyped: the hook
// and the implementation it is handed use the Swift calling convention, which C function
// pointer types do not carry into Swift; GlobalEnqueueHook.swift gives them their Swift types.
extern void *swift_task_enqueueGlobal_hook;

// Installs `hook` unless a hook is set already (by this library or anyone else): returns
// whether `hook` is the one installed now. Atomic, so two installers cannot both win.
static inline int CLinux_installEnqueueGlobalHook(void *hook) {
    void *expected = 0;
    if (__atomic_compare_exchange_n(&swift_task_enqueueGlobal_hook, &expected, hook, 0, __ATOMIC_SEQ_CST,
                                    __ATOMIC_SEQ_CST)) {
        return 1;
    }
    return expected == hook;
}

// The Swift concurrency runtime's task cancellation records (swift/Runtime/Concurrency.h:
// `swift_task_addCancellationHandler`), registered without `withTaskCancellationHandler`'s
// closure, whose type makes every caller hop to the generic executor and back.
// TaskCancellationRecord.swift is the one user. The handler uses the Swift calling convention
// with its argument in the Swift context register; the trampoline below turns that into a C
// call of `SwiftChannels_taskCancelled`, which TaskCancellationRecord.swift defines.
typedef void (*CLinux_CancellationHandler)(void *__attribute__((swift_context)) context) __attribute__((swiftcall));
extern __attribute__((swiftcall)) void *swift_task_addCancellationHandler(CLinux_CancellationHandler handler,
                                                                          void *context);
extern __attribute__((swiftcall)) void swift_task_removeCancellationHandler(void *record);
extern void SwiftChannels_taskCancelled(void *target);

static __attribute__((swiftcall)) void CLinux_cancellationTrampoline(void *__attribute__((swift_context)) target) {
    SwiftChannels_taskCancelled(target);
}

// Registers a record on the current task that calls `SwiftChannels_taskCancelled(target)`
// when the task is cancelled (at once, before returning, when it is cancelled already: then
// the record is not kept and the result is null). Must run inside a task.
static inline void *CLinux_addTaskCancellationRecord(void *target) {
    return swift_task_addCancellationHandler(CLinux_cancellationTrampoline, target);
}

// Removes the newest record of the current task (null: nothing; the 6.3 runtime checks that
// too, earlier ones returned no null). Once it returns, the handler is not running and will
// not run: the runtime runs handlers and removes records under the task's status-record lock.
static inline void CLinux_removeTaskCancellationRecord(void *record) {
    if (record) {
        swift_task_removeCancellationHandler(record);
    }
}

// A hint that `address` will be read soon: its cache line is fetched without waiting for it.
// Never faults, whatever the address.
static inline void CLinux_prefetchForReading(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
