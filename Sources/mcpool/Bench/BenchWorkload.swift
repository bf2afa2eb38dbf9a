import Channels
import Codecs
import Histogram
import MemcacheClient
import Pool

/// What one bench run does and how: the knobs of `mcpool bench`, as a value.
struct BenchWorkload: Sendable {
    var concurrency = 64
    var duration: TimeAmount = .seconds(10)
    /// Gets per `getWeight + setWeight` operations.
    var getWeight = 9
    var setWeight = 1
    var valueSize = 100
    /// Values are JSON records (as compressible as real documents) rather than an alphabet.
    var valueIsJSON = false
    var keyCount = 10_000
    /// Callers run on the pool's loops (`withTaskExecutorPreference`), so each is served by
    /// its own loop's connections with no thread hop.
    var callersOnLoops = true
}

/// What the callers saw: counts, latencies and errors, merged from every caller.
struct BenchTally: Sendable {
    var gets = 0
    var hits = 0
    var sets = 0
    /// Latencies in nanoseconds, 3 significant digits from 1 ns to a minute (growing past it).
    var latency = Self.emptyHistogram()
    var errors: [String: Int] = [:]
    /// The first message of each kind of error, to show what went wrong.
    var errorExamples: [String: String] = [:]

    var operations: Int { self.gets + self.sets }
    var errorCount: Int { self.errors.values.reduce(0, +) }

    mutating func merge(_ other: BenchTally) {
        self.gets += other.gets
        self.hits += other.hits
        self.sets += other.sets
        // A caller's tally has none (and a histogram of another shape, which `add` refuses).
        if other.latency.totalCount > 0 { self.latency.add(other.latency) }
        self.errors.merge(other.errors, uniquingKeysWith: +)
        self.errorExamples.merge(other.errorExamples, uniquingKeysWith: { mine, _ in mine })
    }

    /// A tally for a caller, whose latencies go to its loop's histogram instead: the smallest
    /// histogram there is (a full one is 200 KB of zeros).
    static func withoutLatencies() -> BenchTally {
        BenchTally(latency: Histogram(highestTrackableValue: 2, numberOfSignificantValueDigits: .one))
    }

    static func emptyHistogram() -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
        return histogram
    }

    mutating func record(_ error: any Error) {
        let kind = Self.kind(of: error)
        self.errors[kind, default: 0] += 1
        if self.errorExamples[kind] == nil { self.errorExamples[kind] = String(describing: error) }
    }

    /// A short name for an error's kind: its type and code for this library's errors.
    static func kind(of error: any Error) -> String {
        switch error {
        case let error as PoolError: return "PoolError.\(error.code)"
        case let error as MemcacheError: return "MemcacheError.\(error.code)"
        case let error as RequestResponseError: return "RequestResponseError.\(error.code)"
        case let error as ChannelError: return "ChannelError.\(error.code)"
        case let error as TLSError: return "TLSError.\(error.code)"
        case let error as IOError: return "IOError(\(error.errnoCode))"
        default: return String(describing: type(of: error))
        }
    }
}

/// Runs a workload against a pool (or a ring of pools): preloads the keys, then `concurrency`
/// callers issue gets and sets on random keys until the duration is up. Generic, so each kind
/// of cache gets its own specialized caller loop.
struct BenchRunner<Cache: MemcacheRequestSender>: Sendable {
    let pool: Cache
    let group: EventLoopGroup
    let workload: BenchWorkload
    /// The keys and the value, one copy per loop: callers of different loops share no object,
    /// so the harness adds no reference count that bounces between cores (a shared key table
    /// did: every get retains its key).
    let perLoop: [CallerData]
    let stop: BenchStop

    struct CallerData: Sendable {
        let keys: [MemcacheKey]
        let value: ByteBuffer
    }

    init(pool: Cache, group: EventLoopGroup, workload: BenchWorkload, stop: BenchStop = BenchStop()) throws {
        self.pool = pool
        self.group = group
        self.workload = workload
        self.stop = stop
        self.perLoop = try group.loops.map { _ in
            CallerData(
                keys: try (0..<workload.keyCount).map { try MemcacheKey("mcpool:bench:\($0)") },
                value: workload.valueIsJSON
                    ? Self.json(size: workload.valueSize)
                    : ByteBuffer(bytes: (0..<workload.valueSize).map { UInt8(ascii: "a") + UInt8($0 % 26) }))
        }
    }

    /// A JSON array of records, `size` bytes long (cut short and closed as an array).
    static func json(size: Int) -> ByteBuffer {
        var text = "["
        var id = 0
        while text.utf8.count < size {
            if id > 0 { text += "," }
            text +=
                #"{"id":\#(id),"name":"customer-\#(id % 37)","tags":["plan:\#(id % 3)","region:eu-\#(id % 5)"],"score":\#(Double(id) / 7)}"#
            id += 1
        }
        text += "]"
        return ByteBuffer(string: text)
    }

    /// Stores every key once, `concurrency` at a time (fewer when the run is stopped first).
    func preload() async throws {
        let stride = self.workload.concurrency
        let data = self.perLoop[0]
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for caller in 0..<stride {
                tasks.addTask {
                    for index in Swift.stride(from: caller, to: data.keys.count, by: stride)
                    where !self.stop.isRequested {
                        try await self.pool.set(data.keys[index], to: data.value)
                    }
                }
            }
            try await tasks.waitForAll()
        }
    }

    /// Runs the callers until the duration is up or the run is stopped; `progress` is called
    /// about once a second from a task of its own with the time so far and the operations and
    /// errors so far.
    func run(progress: (@Sendable (_ elapsed: TimeAmount, _ operations: Int, _ errors: Int) async -> Void)? = nil) async
        -> BenchMeasurement
    {
        let cpuAtStart = ProcessCPUClock.now()
        let start = Deadline.now()
        let end = start + self.workload.duration
        // Running totals and a latency histogram per loop, shared by that loop's callers (see
        // `caller`): no lock taken by callers of two loops.
        let lives = self.group.loops.map { _ in LockedValue((operations: 0, errors: 0)) }
        let latencies = self.group.loops.map { _ in LockedValue(BenchTally.emptyHistogram()) }
        var tally = await withTaskGroup(of: BenchTally.self) { tasks in
            for caller in 0..<self.workload.concurrency {
                let loop = self.group.loops[caller % self.group.loops.count]
                let data = self.perLoop[caller % self.group.loops.count]
                let latency = latencies[caller % self.group.loops.count]
                let live = lives[caller % self.group.loops.count]
                if self.workload.callersOnLoops {
                    tasks.addTask(executorPreference: loop) {
                        await self.caller(
                            seed: UInt64(caller + 1), data: data, until: end, live: live, latency: latency)
                    }
                } else {
                    tasks.addTask {
                        await self.caller(
                            seed: UInt64(caller + 1), data: data, until: end, live: live, latency: latency)
                    }
                }
            }
            if let progress {
                tasks.addTask {
                    // Woken every 100 ms to notice a stop, reporting once a second.
                    var ticks = 0
                    while Deadline.now() < end, !self.stop.isRequested {
                        try? await Task.sleep(for: .milliseconds(100))
                        ticks += 1
                        guard ticks % 10 == 0 else { continue }
                        let now = lives.map { $0.withLock { $0 } }
                        await progress(
                            Deadline.now() - start, now.reduce(0) { $0 + $1.operations },
                            now.reduce(0) { $0 + $1.errors })
                    }
                    return BenchTally.withoutLatencies()
                }
            }
            var total = BenchTally()
            for await part in tasks { total.merge(part) }
            return total
        }
        for latency in latencies { latency.withLock { tally.latency.add($0) } }
        let elapsed = Deadline.now() - start
        return BenchMeasurement(
            tally: tally, elapsed: elapsed, cpuTime: ProcessCPUClock.now() - cpuAtStart,
            stoppedEarly: self.stop.isRequested)
    }

    /// One caller: random keys, gets and sets by the workload's weights, until `end`.
    ///
    /// What it does per operation is kept small, so the run measures the pool rather than
    /// itself: at most one clock read (an operation starts when the last one ended), and
    /// latencies kept in the caller's own frame, added to its loop's histogram 32 at a time
    /// with its loop's running totals. (A histogram per caller, 64 of them at about 30 KB each
    /// in use, made every record a cache miss: 3 % of the client's CPU. A 2-KB array per
    /// caller, 8 MB at 4,096 callers, cost a cold array header and a uniqueness check per
    /// operation there.) A caller on a loop stamps with the loop's turn time
    /// (`SelectableEventLoop.turnTime()`: one clock read per turn, shared by every caller the
    /// turn resumes, as the C load tool stamps each epoll round; off the loops it is the
    /// clock's): the clock read per get was a fifth of the harness's CPU.
    private func caller(
        seed: UInt64, data: CallerData, until end: Deadline, live: LockedValue<(operations: Int, errors: Int)>,
        latency: LockedValue<Histogram<UInt64>>
    ) async -> BenchTally {
        // A task that moves between a loop and another thread mixes the two clocks safely: a
        // loop turn's time is read after the turn began, and the turn that resumes a call
        // began after the call was made (work handed to a loop waits for its next turn).
        func now() -> Deadline { SelectableEventLoop.turnTime() }
        let keys = data.keys
        var random = BenchRandom(seed: seed)
        var tally = BenchTally.withoutLatencies()
        let cycle = UInt64(self.workload.getWeight + self.workload.setWeight)
        let getWeight = UInt64(self.workload.getWeight)
        let keyCount = UInt64(keys.count)
        // Latencies of the operations since the last report, the first `sinceReport -
        // errorsSinceReport` of them (a report every `samples.count` operations).
        var samples = InlineArray<32, UInt64>(repeating: 0)
        var sinceReport = 0
        var errorsSinceReport = 0
        func report() {
            let done = sinceReport - errorsSinceReport
            live.withLock {
                $0.operations += done
                $0.errors += errorsSinceReport
            }
            latency.withLock { histogram in
                for index in 0..<done { _ = histogram.record(samples[index]) }
            }
            sinceReport = 0
            errorsSinceReport = 0
        }
        // Keys are picked two operations ahead and prefetched (`prefetchKeys`): a key picked
        // at random from 10,000 is two cache misses, its slot in the table and its bytes'
        // object, which the C load tool (it formats each key) never pays. Ranges by
        // multiplication rather than `%` (no 64-bit division per operation).
        var next = Int(random.next(below: keyCount))
        var afterNext = Int(random.next(below: keyCount))
        var started = now()
        while started < end, !self.stop.isRequested {
            let index = next
            next = afterNext
            afterNext = Int(random.next(below: keyCount))
            Self.prefetchKeys(keys, next: next, afterNext: afterNext)
            let key = keys[index]
            let isGet = random.next(below: cycle) < getWeight
            do {
                if isGet {
                    let value = try await self.pool.get(key)
                    tally.gets += 1
                    if value != nil { tally.hits += 1 }
                } else {
                    try await self.pool.set(key, to: data.value)
                    tally.sets += 1
                }
                let ended = now()
                samples[sinceReport - errorsSinceReport] = UInt64(max(0, (ended - started).nanoseconds))
                started = ended
            } catch {
                tally.record(error)
                errorsSinceReport += 1
                // While the server is down the pool fails calls at once: pause, so a dead
                // server does not turn the run into a spin loop of errors.
                try? await Task.sleep(for: .milliseconds(10))
                started = now()
            }
            sinceReport += 1
            if sinceReport == samples.count { report() }
        }
        report()
        return tally
    }
}

extension BenchRunner {
    /// Prefetches the key table's slot of the operation after next and the bytes of the next
    /// operation's key, whose slot came in while the previous operation ran: each operation
    /// then finds its key in the cache, as an application finds a key it has just built.
    ///
    /// Reads the key's first word (its bytes' array, one reference on Linux) without retaining
    /// it, so nothing of the key is touched before its prefetch: were `MemcacheKey` laid out
    /// otherwise, this would prefetch the wrong addresses — a prefetch never faults — and the
    /// run would only be slower.
    @inline(__always)
    static func prefetchKeys(_ keys: [MemcacheKey], next: Int, afterNext: Int) {
        let stride = MemoryLayout<MemcacheKey>.stride
        // SAFETY: the addresses made here are only prefetched (a prefetch never faults); the one read is
        // marked below.
        keys.withUnsafeBytes { table in
            guard let base = table.baseAddress else { return }
            CachePrefetch.forReading(base + afterNext * stride)
            // SAFETY: a read of one word inside the table; the key's object is only prefetched.
            if let object = table.load(fromByteOffset: next * stride, as: UnsafeRawPointer?.self) {
                // The header (its reference count) and the bytes after it: one or two lines.
                CachePrefetch.forReading(object)
                CachePrefetch.forReading(object + 48)
            }
        }
    }
}

/// What a run measured: the callers' tally, the wall time, and the CPU time the whole
/// process used meanwhile (all threads; the embedded server's too when it runs in-process).
struct BenchMeasurement: Sendable {
    var tally = BenchTally()
    var elapsed = TimeAmount.zero
    var cpuTime = TimeAmount.zero
    /// Ended by `BenchStop` (Ctrl-C) before the duration was up.
    var stoppedEarly = false
}

/// SplitMix64: a fast, seedable generator, so runs are repeatable.
struct BenchRandom {
    private var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound` (the high half of a full-width product: no division; the
    /// bias, under bound / 2^64, is nothing for a benchmark's keys).
    mutating func next(below bound: UInt64) -> UInt64 {
        self.next().multipliedFullWidth(by: bound).high
    }
}
