import CachePrefetchHint
import Channels
import Glibc
import MallocCounter

/// What one variant measured over its window.
struct Measurement {
    var operations = 0
    var errors = 0
    var seconds = 0.0
    var cpuSeconds = 0.0
    /// The process's context switches (voluntary and not): with CPU time per operation, the
    /// count that says how much of it a machine's wake-up cost makes (issue 23).
    var contextSwitches = 0
    var allocations: UInt64 = 0
    var latency = Histogram()

    var opsPerSecond: Double { self.seconds > 0 ? Double(self.operations) / self.seconds : 0 }
    var cpuMicrosPerOperation: Double { self.operations > 0 ? self.cpuSeconds * 1e6 / Double(self.operations) : 0 }
    var allocationsPerOperation: Double { self.operations > 0 ? Double(self.allocations) / Double(self.operations) : 0 }
    var contextSwitchesPerOperation: Double {
        self.operations > 0 ? Double(self.contextSwitches) / Double(self.operations) : 0
    }

    mutating func merge(_ other: Measurement) {
        self.operations += other.operations
        self.errors += other.errors
        self.latency.merge(other.latency)
    }
}

/// Latencies in nanoseconds: powers of two split into 64 linear steps (within 1.6 %).
///
/// Its counters live in one allocation made up front and are bumped through a pointer: the
/// harness's own cost per operation is part of every variant's "client CPU", so it is kept
/// to a clock read and an increment.
struct Histogram: @unchecked Sendable { // SAFETY: each caller owns its own; merged after the callers finish
    private static let size = 64 * 64
    private let counts: UnsafeMutablePointer<UInt64>
    private(set) var count: UInt64 = 0

    init() {
        self.counts = .allocate(capacity: Self.size)
        self.counts.initialize(repeating: 0, count: Self.size)
    }

    /// Frees the counters (the harness calls it once it has merged them).
    func deallocate() { self.counts.deallocate() }

    mutating func record(_ nanoseconds: UInt64) {
        self.counts[Self.index(nanoseconds)] &+= 1
        self.count &+= 1
    }

    mutating func merge(_ other: Histogram) {
        for index in 0..<Self.size { self.counts[index] += other.counts[index] }
        self.count += other.count
    }

    func percentile(_ percent: Double) -> Double {
        guard self.count > 0 else { return 0 }
        let rank = UInt64((percent / 100 * Double(self.count)).rounded(.up))
        var seen: UInt64 = 0
        for index in 0..<Self.size {
            seen += self.counts[index]
            if seen >= rank { return Double(Self.upperBound(index)) }
        }
        return 0
    }

    private static func index(_ value: UInt64) -> Int {
        guard value >= 64 else { return Int(value) }
        let shift = (63 - value.leadingZeroBitCount) - 6
        return min(Self.size - 1, (shift + 1) * 64 + Int((value >> UInt64(shift)) & 63))
    }

    private static func upperBound(_ index: Int) -> UInt64 {
        guard index >= 64 else { return UInt64(index) }
        let shift = index / 64 - 1
        return (UInt64(64 + index % 64 + 1) << UInt64(shift)) - 1
    }
}

/// The process's CPU time (user + system, all threads), in seconds, and its context switches.
func processUsage() -> (cpuSeconds: Double, contextSwitches: Int) {
    var usage = rusage()
    _ = getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return (seconds(usage.ru_utime) + seconds(usage.ru_stime), usage.ru_nvcsw + usage.ru_nivcsw)
}

func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// SplitMix64, so every variant asks for the same keys.
struct SplitMix {
    private var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs `callers` concurrent callers, each getting random keys for `seconds`, on the given
/// loops (task executor preference) or as plain tasks, and measures the window: operations,
/// wall and CPU time, heap allocations, latency. One untimed second first, to connect and warm.
///
/// `keys[caller % keys.count]` is the copy of the keys that caller uses (callers on the same
/// loop share one): an application makes its keys per request, so threads should not contend
/// for the reference counts of shared keys.
func drive<Key: Sendable>(
    keys: [[Key]], callers: Int, seconds: Double, onLoops loops: [any EventLoop]?,
    _ get: @escaping @Sendable (Key) async throws -> Void
) async -> Measurement {
    _ = await runCallers(keys: keys, callers: callers, seconds: 1, onLoops: loops, get)
    let usageBefore = processUsage()
    let allocationsBefore = malloc_counter_total()
    let start = monotonicNanoseconds()
    var measurement = await runCallers(keys: keys, callers: callers, seconds: seconds, onLoops: loops, get)
    measurement.seconds = Double(monotonicNanoseconds() - start) / 1e9
    let usageAfter = processUsage()
    measurement.cpuSeconds = usageAfter.cpuSeconds - usageBefore.cpuSeconds
    measurement.contextSwitches = usageAfter.contextSwitches - usageBefore.contextSwitches
    measurement.allocations = malloc_counter_total() - allocationsBefore
    return measurement
}

private func runCallers<Key: Sendable>(
    keys: [[Key]], callers: Int, seconds: Double, onLoops loops: [any EventLoop]?,
    _ get: @escaping @Sendable (Key) async throws -> Void
) async -> Measurement {
    let end = monotonicNanoseconds() + UInt64(seconds * 1e9)
    return await withTaskGroup(of: Measurement.self) { group in
        for caller in 0..<callers {
            let keys = keys[caller % keys.count]
            let body: @Sendable @concurrent () async -> Measurement = {
                var random = SplitMix(seed: UInt64(caller + 1))
                var mine = Measurement()
                // Keys picked two operations ahead and prefetched (see `prefetchKeys`).
                var next = Int(random.next() % UInt64(keys.count))
                var afterNext = Int(random.next() % UInt64(keys.count))
                // One clock read per operation: its end is the next one's start.
                var started = monotonicNanoseconds()
                while started < end {
                    let index = next
                    next = afterNext
                    afterNext = Int(random.next() % UInt64(keys.count))
                    prefetchKeys(keys, next: next, afterNext: afterNext)
                    do {
                        try await get(keys[index])
                        mine.operations += 1
                    } catch {
                        mine.errors += 1
                    }
                    let finished = monotonicNanoseconds()
                    mine.latency.record(finished - started)
                    started = finished
                }
                return mine
            }
            if let loops {
                group.addTask(executorPreference: loops[caller % loops.count], operation: body)
            } else {
                group.addTask(operation: body)
            }
        }
        var total = Measurement()
        for await part in group {
            total.merge(part)
            part.latency.deallocate()
        }
        return total
    }
}

/// Prefetches the table slot of the key after next and what the next key's slot points to
/// (its slot came in during the previous operation), so that each operation finds its key in
/// the cache, as an application finds a key it has just built — and as the C load tool, which
/// formats its keys, always does. Without it a random pick from 10,000 keys missed the cache
/// twice per operation, and the caller's retain of its key alone was 5 % of `mcpool bench`'s
/// CPU: the harness's cost, not the client's.
///
/// Every variant's keys get the same treatment: each word of the slot is taken for a possible
/// pointer (an array's storage, a string's object), masked to the 48-bit address space. A word
/// that is not one is a wasted hint: a prefetch never faults.
@inline(__always)
func prefetchKeys<Key>(_ keys: [Key], next: Int, afterNext: Int) {
    let stride = MemoryLayout<Key>.stride
    keys.withUnsafeBytes { table in
        guard let base = table.baseAddress else { return }
        cache_prefetch_for_reading(base + afterNext * stride)
        var offset = next * stride
        while offset + 8 <= (next + 1) * stride {
            let word = table.load(fromByteOffset: offset, as: UInt.self) & 0x0000_FFFF_FFFF_FFF0
            if word > 4096, let object = UnsafeRawPointer(bitPattern: word) {
                // The header (the reference count) and the bytes after it: one or two lines.
                cache_prefetch_for_reading(object)
                cache_prefetch_for_reading(object + 48)
            }
            offset += 8
        }
    }
}
