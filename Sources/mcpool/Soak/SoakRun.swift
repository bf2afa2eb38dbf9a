import Channels
import Codecs
import Foundation
import MemcacheClient
import Pool

/// The soak's load and its tally: callers per pool running a mixed workload, checked value by
/// value (see `SoakChecker`), and a row of counters, memory and descriptors per interval.
///
/// Thread-safe.
final class SoakRun: Sendable {
    /// One report interval.
    struct Row: Sendable {
        var seconds = 0
        var calls = 0
        var errors = 0
        var wrong = 0
        var hung = 0
        var residentMB = 0
        var descriptors = 0
        /// The errors of the interval by code, most frequent first.
        var errorKinds = ""

        static let header = "  time   calls/interval  errors  wrong  hung  rss MB  fds  errors by kind"

        var line: String {
            func pad(_ value: Any, _ width: Int) -> String {
                let text = "\(value)"
                return String(repeating: " ", count: max(0, width - text.count)) + text
            }
            return
                "\(pad("\(self.seconds / 60)m\(String(format: "%02d", self.seconds % 60))s", 6))  \(pad(self.calls, 14))  \(pad(self.errors, 6))  \(pad(self.wrong, 5))  \(pad(self.hung, 4))  \(pad(self.residentMB, 6))  \(pad(self.descriptors, 3))  \(self.errorKinds)"
        }
    }

    private struct Tally {
        var calls = 0
        var wrong = 0
        var hung = 0
        var errors: [String: Int] = [:]
        var examples: [String] = []
    }

    let checker = SoakChecker()
    private let group: EventLoopGroup
    private let callersPerPool: Int
    private let keys: Int
    private let hangLimit: TimeAmount
    private let tally = LockedValue(Tally())

    init(group: EventLoopGroup, callersPerPool: Int, keys: Int, hangLimit: TimeAmount) {
        self.group = group
        self.callersPerPool = callersPerPool
        self.keys = keys
        self.hangLimit = hangLimit
    }

    /// The first wrong values seen, described.
    func wrongExamples() -> [String] { self.tally.withLock { $0.examples } }

    /// Runs the load on `pools` for `duration`, calling `report` with a row every `interval`;
    /// returns every row.
    func run(
        pools: [MemcachePool], for duration: TimeAmount, every interval: TimeAmount,
        report: @escaping @Sendable (Row) -> Void
    ) async -> [Row] {
        let start = Deadline.now()
        let end = start + duration
        return await withTaskGroup(of: [Row].self) { tasks in
            for (poolIndex, pool) in pools.enumerated() {
                for caller in 0..<self.callersPerPool {
                    let seed = UInt64(poolIndex * 1000 + caller + 1)
                    let keyBase = poolIndex * self.keys
                    if caller % 2 == 0 {
                        let loop = self.group.loops[caller / 2 % self.group.loops.count]
                        tasks.addTask(executorPreference: loop) {
                            await self.caller(pool, seed: seed, keyBase: keyBase, until: end)
                        }
                    } else {
                        tasks.addTask { await self.caller(pool, seed: seed, keyBase: keyBase, until: end) }
                    }
                }
            }
            tasks.addTask { await self.reporter(start: start, end: end, every: interval, report: report) }
            var rows: [Row] = []
            for await part in tasks { rows += part }
            return rows
        }
    }

    private func reporter(start: Deadline, end: Deadline, every interval: TimeAmount, report: @Sendable (Row) -> Void)
        async -> [Row]
    {
        var rows: [Row] = []
        var next = start + interval
        while true {
            let now = Deadline.now()
            if now >= next || now >= end {
                let counted = self.tally.withLock { tally -> Tally in
                    let counted = tally
                    tally = Tally()
                    tally.examples = counted.examples
                    return counted
                }
                var row = Row()
                row.seconds = Int((Deadline.now() - start).nanoseconds / 1_000_000_000)
                row.calls = counted.calls
                row.errors = counted.errors.values.reduce(0, +)
                row.wrong = counted.wrong
                row.hung = counted.hung
                row.errorKinds = counted.errors.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }.joined(
                    separator: ", ")
                (row.residentMB, row.descriptors) = Self.processFootprint()
                rows.append(row)
                report(row)
                next = next + interval
                if now >= end { return rows }
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    private func caller(_ pool: MemcachePool, seed: UInt64, keyBase: Int, until end: Deadline) async -> [Row] {
        var random = BenchRandom(seed: seed)
        while Deadline.now() < end {
            let started = Deadline.now()
            let roll = random.next() % 100
            let key = keyBase + Int(random.next() % UInt64(self.keys))
            do {
                switch roll {
                case 0..<50:
                    if let value = try await pool.get(Self.name(key)) { self.check(value, key: key) }
                case 50..<75:
                    let version = self.checker.nextVersion(of: key)
                    let size = 40 + Int(version &* 7919 % 2000)
                    try await pool.set(Self.name(key), to: SoakChecker.value(key: key, version: version, size: size))
                case 75..<85:
                    let many = (0..<8).map { _ in keyBase + Int(random.next() % UInt64(self.keys)) }
                    let found = try await pool.getMany(many.map(Self.name))
                    for index in many { if let value = found[Self.name(index)] { self.check(value, key: index) } }
                case 85..<95:
                    let many = (0..<8).map { _ in keyBase + Int(random.next() % UInt64(self.keys)) }
                    let batch = many.map { MemcacheMetaRequest.get(Self.name($0), flags: [.returnValue, .returnKey]) }
                    _ = try await pool.sendBatch(batch) { reply in
                        guard case .meta(let meta) = reply, meta.status == .value, let name = meta.key,
                            let index = Self.index(of: name), let value = meta.value
                        else { return }
                        self.check(value, key: index)
                    }
                default:
                    _ = try await pool.delete(Self.name(key))
                }
                self.finished(started: started, error: nil)
            } catch {
                self.finished(started: started, error: error)
                // While a server is down calls fail fast: do not spin.
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
        return []
    }

    private func check(_ value: ByteBuffer, key: Int) {
        guard case .wrong(let why) = self.checker.check(value, key: key) else { return }
        self.tally.withLock { tally in
            tally.wrong += 1
            if tally.examples.count < 10 { tally.examples.append(why) }
        }
    }

    private func finished(started: Deadline, error: (any Error)?) {
        let hung = Deadline.now() - started > self.hangLimit
        let kind = error.map { ($0 as? MemcacheError)?.code.description ?? "\(type(of: $0))" }
        self.tally.withLock { tally in
            tally.calls += 1
            if hung { tally.hung += 1 }
            if let kind { tally.errors[kind, default: 0] += 1 }
        }
    }

    static func name(_ key: Int) -> MemcacheKey {
        // Safe: digits and a colon are always a valid key.
        (try? MemcacheKey("soak:\(key)")) ?? MemcacheKey("soak")
    }

    static func index(of name: [UInt8]) -> Int? {
        guard name.count > 5, name.starts(with: Array("soak:".utf8)) else { return nil }
        return Int(String(decoding: name.dropFirst(5), as: UTF8.self))
    }

    /// Resident memory (MB) and open descriptors of this process.
    static func processFootprint() -> (Int, Int) {
        let statm = ProcFile.text("/proc/self/statm")
        let pages = statm.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return ((pages * 4096) >> 20, descriptors)
    }

    /// Passed: no wrong value, no hung call, and memory and descriptors flat (the last row
    /// against the second, after the warm-up: at most 25 % + 32 MB more memory, 16 more
    /// descriptors).
    static func verdict(_ rows: [Row]) -> (passed: Bool, summary: String) {
        let wrong = rows.map(\.wrong).reduce(0, +)
        let hung = rows.map(\.hung).reduce(0, +)
        let calls = rows.map(\.calls).reduce(0, +)
        let errors = rows.map(\.errors).reduce(0, +)
        guard let last = rows.last else { return (false, "no rows") }
        let reference = rows.count > 2 ? rows[1] : rows[0]
        let memoryFlat = last.residentMB <= reference.residentMB + reference.residentMB / 4 + 32
        let descriptorsFlat = last.descriptors <= reference.descriptors + 16
        let passed = wrong == 0 && hung == 0 && memoryFlat && descriptorsFlat
        let summary = """
            \(passed ? "PASSED" : "FAILED"): \(calls) calls, \(errors) errors (expected while servers restart or the network fails), \
            \(wrong) wrong values, \(hung) hung calls; memory \(reference.residentMB) → \(last.residentMB) MB\(memoryFlat ? "" : " (grew)"), \
            descriptors \(reference.descriptors) → \(last.descriptors)\(descriptorsFlat ? "" : " (grew)")
            """
        return (passed, summary)
    }
}
