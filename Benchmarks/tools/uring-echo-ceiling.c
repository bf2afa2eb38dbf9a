// Issue 23's io_uring question, asked of C first: how much faster can one thread echo with
// io_uring than with epoll, when nothing but the system calls differs? If the answer is
// under 1.15x for C, a Swift transport (whose user-space work per message is larger, so
// whose system calls are a smaller share) will not reach 1.15x over this library's epoll.
//
//   server epoll PORT CONNS   one thread: accept CONNS, then epoll_wait + recv + send
//   server uring PORT CONNS   one thread: accept CONNS, then one io_uring_enter per turn that
//                             submits every recv/send of the turn and waits for completions
//   client PORT CONNS SECONDS SIZE
//                             CONNS connections, one SIZE-byte message in flight on each
//                             (ping-pong), poll(2) over all; prints messages per second
//
// A server prints its messages and its CPU time per message when the client leaves.
// Build: gcc -O2 -o uring-echo-ceiling uring-echo-ceiling.c
#define _GNU_SOURCE
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BUFFER 65536
#define MAXCONN 256

static void die(const char *what) {
    perror(what);
    exit(1);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
           usage.ru_stime.tv_usec / 1e6;
}

static int accept_all(int port, int count, int *fds) {
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
    if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0) die("bind");
    if (listen(listener, 1024) < 0) die("listen");
    for (int i = 0; i < count; i++) {
        fds[i] = accept(listener, 0, 0);
        if (fds[i] < 0) die("accept");
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    close(listener);
    return count;
}

static void report(long messages, double cpu_start) {
    double cpu = cpu_seconds() - cpu_start;
    printf("messages=%ld cpu_s=%.3f cpu_us_per_msg=%.3f\n", messages, cpu, messages ? cpu * 1e6 / messages : 0);
    fflush(stdout);
}

static void serve_epoll(int port, int count) {
    int fds[MAXCONN];
    accept_all(port, count, fds);
    double cpu_start = cpu_seconds();
    int epoll = epoll_create1(0);
    for (int i = 0; i < count; i++) {
        struct epoll_event event = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(epoll, EPOLL_CTL_ADD, fds[i], &event);
    }
    static char buffers[MAXCONN][BUFFER];
    long messages = 0;
    int open = count;
    struct epoll_event events[MAXCONN];
    while (open > 0) {
        int ready = epoll_wait(epoll, events, MAXCONN, -1);
        for (int e = 0; e < ready; e++) {
            int i = events[e].data.u32;
            ssize_t n = recv(fds[i], buffers[i], BUFFER, MSG_DONTWAIT);
            if (n <= 0) {
                if (n < 0 && errno == EAGAIN) continue;
                epoll_ctl(epoll, EPOLL_CTL_DEL, fds[i], 0);
                close(fds[i]);
                open--;
                continue;
            }
            if (send(fds[i], buffers[i], n, 0) != n) die("send");
            messages++;
        }
    }
    report(messages, cpu_start);
}

// A minimal io_uring: the two rings mapped once, submissions written in place.
struct ring {
    int fd;
    unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
    struct io_uring_sqe *sqes;
    unsigned *cq_head, *cq_tail, *cq_mask;
    struct io_uring_cqe *cqes;
    unsigned pending;
};

static void ring_setup(struct ring *ring, unsigned entries) {
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    ring->fd = (int)syscall(__NR_io_uring_setup, entries, &params);
    if (ring->fd < 0) {
        memset(&params, 0, sizeof params);
        params.flags = IORING_SETUP_COOP_TASKRUN;
        ring->fd = (int)syscall(__NR_io_uring_setup, entries, &params);
    }
    if (ring->fd < 0) die("io_uring_setup");
    size_t sq_size = params.sq_off.array + params.sq_entries * sizeof(unsigned);
    size_t cq_size = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
    if (cq_size > sq_size) sq_size = cq_size;
    char *sq = mmap(0, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_SQ_RING);
    if (sq == MAP_FAILED) die("mmap sq");
    char *cq = sq;  // IORING_FEAT_SINGLE_MMAP (every kernel this runs on)
    ring->sq_head = (unsigned *)(sq + params.sq_off.head);
    ring->sq_tail = (unsigned *)(sq + params.sq_off.tail);
    ring->sq_mask = (unsigned *)(sq + params.sq_off.ring_mask);
    ring->sq_array = (unsigned *)(sq + params.sq_off.array);
    ring->sqes = mmap(0, params.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_POPULATE, ring->fd, IORING_OFF_SQES);
    if (ring->sqes == MAP_FAILED) die("mmap sqes");
    ring->cq_head = (unsigned *)(cq + params.cq_off.head);
    ring->cq_tail = (unsigned *)(cq + params.cq_off.tail);
    ring->cq_mask = (unsigned *)(cq + params.cq_off.ring_mask);
    ring->cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
    ring->pending = 0;
}

static void ring_push(struct ring *ring, int op, int fd, void *buffer, unsigned length, uint64_t data) {
    unsigned tail = *ring->sq_tail;
    unsigned index = tail & *ring->sq_mask;
    struct io_uring_sqe *sqe = &ring->sqes[index];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = op;
    sqe->fd = fd;
    sqe->addr = (uint64_t)(uintptr_t)buffer;
    sqe->len = length;
    sqe->user_data = data;
    ring->sq_array[index] = index;
    __atomic_store_n(ring->sq_tail, tail + 1, __ATOMIC_RELEASE);
    ring->pending++;
}

static void serve_uring(int port, int count) {
    int fds[MAXCONN];
    accept_all(port, count, fds);
    double cpu_start = cpu_seconds();
    struct ring ring;
    ring_setup(&ring, 2 * MAXCONN);
    static char buffers[MAXCONN][BUFFER];
    // user_data: connection index, plus 1 << 32 for a send.
    for (int i = 0; i < count; i++) ring_push(&ring, IORING_OP_RECV, fds[i], buffers[i], BUFFER, i);
    long messages = 0;
    int open = count;
    while (open > 0) {
        // One system call per turn: submit what the last turn queued, wait for one completion.
        int submitted = (int)syscall(__NR_io_uring_enter, ring.fd, ring.pending, 1, IORING_ENTER_GETEVENTS, 0, 0);
        if (submitted < 0) {
            if (errno == EINTR) continue;
            die("io_uring_enter");
        }
        ring.pending -= submitted;
        unsigned head = *ring.cq_head;
        unsigned tail = __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE);
        for (; head != tail; head++) {
            struct io_uring_cqe *cqe = &ring.cqes[head & *ring.cq_mask];
            int i = (int)(cqe->user_data & 0xffffffff);
            int is_send = (int)(cqe->user_data >> 32);
            if (cqe->res <= 0) {
                if (!is_send) {
                    close(fds[i]);
                    open--;
                }
                continue;
            }
            if (is_send) {
                ring_push(&ring, IORING_OP_RECV, fds[i], buffers[i], BUFFER, i);
            } else {
                ring_push(&ring, IORING_OP_SEND, fds[i], buffers[i], (unsigned)cqe->res, (1ULL << 32) | i);
                messages++;
            }
        }
        __atomic_store_n(ring.cq_head, head, __ATOMIC_RELEASE);
    }
    report(messages, cpu_start);
}

static void client(int port, int count, double seconds, int size) {
    int fds[MAXCONN];
    struct pollfd polls[MAXCONN];
    char message[BUFFER], reply[BUFFER];
    int received[MAXCONN];
    memset(message, 'x', size);
    for (int i = 0; i < count; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(0x7f000001)};
        int tries = 0;
        while (connect(fds[i], (struct sockaddr *)&address, sizeof address) < 0) {
            if (++tries > 200) die("connect");
            usleep(10000);
            close(fds[i]);
            fds[i] = socket(AF_INET, SOCK_STREAM, 0);
            setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        polls[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    }
    for (int i = 0; i < count; i++) {
        received[i] = 0;
        if (send(fds[i], message, size, 0) != size) die("client send");
    }
    long messages = 0;
    double start = now(), end = start + seconds;
    while (now() < end) {
        if (poll(polls, count, 1000) < 0) die("poll");
        for (int i = 0; i < count; i++) {
            if (!(polls[i].revents & POLLIN)) continue;
            ssize_t n = recv(fds[i], reply, BUFFER, MSG_DONTWAIT);
            if (n <= 0) continue;
            received[i] += (int)n;
            if (received[i] >= size) {
                received[i] = 0;
                messages++;
                if (send(fds[i], message, size, 0) != size) die("client send");
            }
        }
    }
    double elapsed = now() - start;
    for (int i = 0; i < count; i++) close(fds[i]);
    printf("messages_per_s=%.0f\n", messages / elapsed);
}

int main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[1], "server") == 0) {
        int port = atoi(argv[3]), count = atoi(argv[4]);
        if (count > MAXCONN) count = MAXCONN;
        if (strcmp(argv[2], "epoll") == 0) serve_epoll(port, count);
        else if (strcmp(argv[2], "uring") == 0) serve_uring(port, count);
        else return 2;
        return 0;
    }
    if (argc >= 6 && strcmp(argv[1], "client") == 0) {
        client(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
        return 0;
    }
    fprintf(stderr, "usage: see the header\n");
    return 2;
}
