#ifndef CACHE_PREFETCH_HINT_H
#define CACHE_PREFETCH_HINT_H

/// A hint that `address` will be read soon: its cache line is fetched without waiting for it.
/// Never faults, whatever the address. (The library's own is package-internal.)
static inline void cache_prefetch_for_reading(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
