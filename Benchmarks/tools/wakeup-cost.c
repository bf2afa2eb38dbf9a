// What one thread waking another costs this machine, in CPU time: two threads hand a turn
// back and forth through a futex (what Dispatch's idle workers and a sleeping event loop are
// woken with), first both on one CPU, then on two. A plain-task get's extra cost over a get on
// the loops is mostly such hand-offs (docs/performance.md, stop 58), so their price per
// machine says how far a CPU-time ratio measured on one machine carries to another.
//
// Prints one line: CPU microseconds per context switch (the waker's wake-up and the sleeper's
// switch, over all the process's switches) on one CPU and across two, and the round
// trip's wall time across two.
//
// Build: gcc -O2 -o wakeup-cost wakeup-cost.c -lpthread     Run: ./wakeup-cost [round trips]
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic int turn; // whose turn: 0 the main thread's, 1 the other's
static long round_trips;

static void wait_for(int mine) {
    int seen;
    while ((seen = atomic_load(&turn)) != mine) syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void hand_to(int other) {
    atomic_store(&turn, other);
    syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *other_side(void *cpu) {
    pin((int)(long)cpu);
    for (long i = 0; i < round_trips; i++) {
        wait_for(1);
        hand_to(0);
    }
    return NULL;
}

static double seconds(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return now.tv_sec + now.tv_nsec / 1e9;
}

// CPU µs per context switch and wall µs per round trip, the two threads on the
// given CPUs.
static void measure(int cpu_a, int cpu_b, double *cpu_per_switch, double *wall_per_trip) {
    pthread_t thread;
    struct rusage before, after;
    atomic_store(&turn, 0);
    pin(cpu_a);
    getrusage(RUSAGE_SELF, &before);
    double cpu0 = seconds(CLOCK_PROCESS_CPUTIME_ID), wall0 = seconds(CLOCK_MONOTONIC);
    pthread_create(&thread, NULL, other_side, (void *)(long)cpu_b);
    for (long i = 0; i < round_trips; i++) {
        hand_to(1);
        wait_for(0);
    }
    pthread_join(thread, NULL);
    double cpu = seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0, wall = seconds(CLOCK_MONOTONIC) - wall0;
    getrusage(RUSAGE_SELF, &after);
    // Voluntary and not: on one CPU a woken thread often preempts its waker.
    long switches = (after.ru_nvcsw + after.ru_nivcsw) - (before.ru_nvcsw + before.ru_nivcsw);
    *cpu_per_switch = switches > 0 ? cpu * 1e6 / switches : 0;
    *wall_per_trip = wall * 1e6 / round_trips;
}

int main(int argc, char **argv) {
    round_trips = argc > 1 ? atol(argv[1]) : 20000;
    // The first two CPUs this process may run on (a container may not have CPU 0).
    cpu_set_t allowed;
    int cpus[2] = {-1, -1}, found = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
        for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
            if (CPU_ISSET(cpu, &allowed)) cpus[found++] = cpu;
    if (found == 0) {
        printf("wake-ups: not measured (no CPU in this process's affinity)\n");
        return 0;
    }
    double same_cpu, same_wall, cross_cpu, cross_wall;
    measure(cpus[0], cpus[0], &same_cpu, &same_wall);
    if (found > 1) {
        measure(cpus[0], cpus[1], &cross_cpu, &cross_wall);
        printf("wake-ups: %.1f µs of CPU per context switch on one CPU, %.1f across two (a round trip %.1f µs)\n",
               same_cpu, cross_cpu, cross_wall);
    } else {
        printf("wake-ups: %.1f µs of CPU per context switch on one CPU\n", same_cpu);
    }
    return 0;
}
