#ifndef MALLOC_COUNTER_H
#define MALLOC_COUNTER_H
#include <stdint.h>

/// Heap allocations made by the whole process so far (malloc, calloc, realloc,
/// posix_memalign, aligned_alloc, memalign), counted by the interposers in
/// MallocCounter.c. Linked into a benchmark executable, they replace glibc's entry points
/// for every library in the process (Swift's runtime, SwiftNIO, ours).
uint64_t malloc_counter_total(void);

#endif
