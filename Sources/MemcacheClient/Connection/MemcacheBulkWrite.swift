public import Channels
import Codecs

/// How `setMany` and `deleteMany` cut a large batch: at most `maximumCommands` commands or
/// `maximumBytes` of values per exchange, and at most `maximumInFlight` exchanges on the
/// wire at once, so that memory stays bounded whatever the batch's size (a new exchange is
/// encoded only when one has finished).
///
/// Thread-safe (a value).
///
/// ```swift
/// let failures = try await cache.setMany(values, limits: MemcacheBulkLimits(maximumCommands: 2_000))
/// ```
public struct MemcacheBulkLimits: Sendable, Equatable {
    public var maximumCommands: Int
    public var maximumBytes: Int
    public var maximumInFlight: Int

    public init(maximumCommands: Int = 10_000, maximumBytes: Int = 4 << 20, maximumInFlight: Int = 2) {
        self.maximumCommands = max(1, maximumCommands)
        self.maximumBytes = max(1, maximumBytes)
        self.maximumInFlight = max(1, maximumInFlight)
    }
}

/// The exchanges of a bulk write and how their replies map back to keys.
///
/// Each exchange is one quiet meta batch: the commands with `q`, each followed by `mn`, the
/// last closed by the batch's own `mn`. Only failures and the `MN`s come back. The `mn` after
/// every command is what ties a failure to its key: memcached (1.6.18, measured) answers a
/// quiet `ms` that fails with a bare `SERVER_ERROR …` line — no key, no opaque — so with one
/// `mn` per batch an error could not be told from its neighbours'. It costs 4 bytes each way
/// and no round trip.
enum MemcacheBulkWrite {
    /// One exchange: its commands (fences included) and the keys they are for, in order.
    struct Exchange {
        var requests: [MemcacheMetaRequest] = []
        var keys: [MemcacheKey] = []
        /// Each key's command (`ms`, `md`, …): what its reply means depends on it.
        var commands: [MemcacheMetaRequest.Command] = []
        var bytes = 0
    }

    /// Cuts `commands` into exchanges within `limits`, lazily (an exchange is built when the
    /// iterator is asked for it).
    struct Exchanges<Commands: IteratorProtocol>: IteratorProtocol where Commands.Element == MemcacheMetaRequest {
        var commands: Commands
        let limits: MemcacheBulkLimits
        var carried: MemcacheMetaRequest?

        mutating func next() -> Exchange? {
            var exchange = Exchange()
            while exchange.keys.count < self.limits.maximumCommands, let command = self.carried ?? self.commands.next()
            {
                self.carried = nil
                let size = command.value?.readableBytes ?? 0
                if !exchange.keys.isEmpty, exchange.bytes + size > self.limits.maximumBytes {
                    self.carried = command
                    break
                }
                guard let key = command.key else { continue }
                if !exchange.keys.isEmpty { exchange.requests.append(.noop) }
                exchange.requests.append(command)
                exchange.keys.append(key)
                exchange.commands.append(command.command)
                exchange.bytes += size
            }
            return exchange.keys.isEmpty ? nil : exchange
        }
    }

    /// Collects an exchange's replies: an `MN` moves on to the next command's key; anything
    /// else before it is that command's reply, kept when it reports a failure.
    final class Replies: Sendable {
        private struct Progress {
            var position = 0
            var received = 0
            var failures: [MemcacheKey: MemcacheError] = [:]
        }
        private let progress = LockedValue(Progress())
        let keys: [MemcacheKey]
        let commands: [MemcacheMetaRequest.Command]

        init(_ exchange: Exchange) {
            self.keys = exchange.keys
            self.commands = exchange.commands
        }

        func take(_ reply: MemcacheResponse) {
            self.progress.withLock { progress in
                progress.received += 1
                if case .meta(let meta) = reply, meta.status == .noop {
                    progress.position += 1
                    return
                }
                guard progress.position < self.keys.count,
                    let failure = Self.failure(in: reply, to: self.commands[progress.position])
                else { return }
                progress.failures[self.keys[progress.position]] = failure
            }
        }

        var collected: [MemcacheKey: MemcacheError] { self.progress.withLock { $0.failures } }
        /// How many replies (kept ones and `MN`s) have come.
        var received: Int { self.progress.withLock { $0.received } }

        /// The failure a kept reply to `command` reports, nil when it is none (`NF` of a
        /// delete: the key is gone, which is what was asked).
        private static func failure(in reply: MemcacheResponse, to command: MemcacheMetaRequest.Command)
            -> MemcacheError?
        {
            let name = command.rawValue
            switch reply {
            case .error(let error):
                return error
            case .meta(let meta):
                switch meta.status {
                case .headerOnly: return nil
                case .notFound where command == .delete: return nil
                case .notStored: return MemcacheError(.unexpectedResponse, "\(name) was not stored (NS)")
                case .exists: return MemcacheError(.unexpectedResponse, "\(name): the item changed (EX)")
                default: return MemcacheError(.unexpectedResponse, "\(name) answered \(meta.status.rawValue)")
                }
            default:
                return MemcacheError(.unexpectedResponse, "\(name) answered \(reply)")
            }
        }
    }

    /// How long an exchange may go without a reply before an `mn` nudges the server.
    ///
    /// memcached 1.6.18 with TLS (`-Z`) stalls on a large pipelined exchange: it leaves
    /// records it has already read in OpenSSL's buffer and waits for the socket to become
    /// readable again, which never happens when the client has sent everything (reproduced
    /// with Python's `ssl` client too, with quiet or plain sets: about half of the runs of
    /// 10,000 sets stop 50–200 replies short). Any new bytes wake it up. The `mn` costs
    /// nothing when the server was just slow: its `MN` arrives after the exchange's.
    static let nudgeAfter: TimeAmount = .milliseconds(200)

    /// Runs the exchanges on `sender`, at most `limits.maximumInFlight` at once; returns the
    /// failures by key. A failure of an exchange as a whole (the connection closed, a
    /// timeout) is thrown: which of its commands the server executed is unknown. `sender`
    /// should be one connection, so that a nudge reaches the server that stalled.
    static func run(
        _ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits, on sender: some MemcacheRequestSender
    ) async throws -> [MemcacheKey: MemcacheError] {
        var exchanges = Exchanges(commands: commands.makeIterator(), limits: limits)
        return try await withThrowingTaskGroup(of: [MemcacheKey: MemcacheError].self) { tasks in
            var failures: [MemcacheKey: MemcacheError] = [:]
            var running = 0
            while true {
                while running < limits.maximumInFlight, let exchange = exchanges.next() {
                    running += 1
                    tasks.addTask { try await self.send(exchange, on: sender) }
                }
                guard let finished = try await tasks.next() else { return failures }
                running -= 1
                failures.merge(finished) { first, _ in first }
            }
        }
    }

    /// Sends one exchange, nudging the server while its replies do not progress.
    private static func send(_ exchange: Exchange, on sender: some MemcacheRequestSender) async throws -> [MemcacheKey:
        MemcacheError]
    {
        let replies = Replies(exchange)
        return try await withThrowingTaskGroup(of: Void.self) { parts in
            parts.addTask {
                _ = try await sender.sendBatch(exchange.requests) { replies.take($0) }
            }
            parts.addTask {
                var seen = -1
                while true {
                    try await Task.sleep(for: .nanoseconds(Self.nudgeAfter.nanoseconds))
                    let progress = replies.received
                    if progress == seen {
                        // Not awaited here: its reply comes after the exchange's.
                        Task { _ = try? await sender.send(.meta(.noop)) }
                    }
                    seen = progress
                }
            }
            // The exchange ends first (the nudger only ends by cancellation).
            try await parts.next()
            parts.cancelAll()
            return replies.collected
        }
    }
}

extension MemcacheRequestSender {
    /// Stores every value, in quiet meta commands: one exchange per 10,000 keys (see
    /// `MemcacheBulkLimits`), in which only failures come back. Returns the keys that were not
    /// stored, each with its own error (a value over the server's item size limit:
    /// `.serverError`); empty when all were.
    ///
    /// Throws when an exchange fails as a whole (`.connectionClosed`, `.timeout`, …): the
    /// server may have stored part of it. Meta protocol only (`.unsupportedCommand` otherwise).
    ///
    /// ```swift
    /// let failed = try await cache.setMany(["a": ByteBuffer(string: "1"), "b": ByteBuffer(string: "2")], ttl: 300)
    /// for (key, error) in failed { print("\(key) not stored: \(error)") }
    /// ```
    public func setMany(
        _ values: [MemcacheKey: ByteBuffer], flags: UInt32 = 0, ttl: Int = 0,
        limits: MemcacheBulkLimits = MemcacheBulkLimits()
    ) async throws -> [MemcacheKey: MemcacheError] {
        try self.requireMeta("setMany")
        var common: [MemcacheMetaFlag] = []
        if flags != 0 { common.append(.clientFlags(flags)) }
        if ttl != 0 { common.append(.ttl(ttl)) }
        return try await self.writeMany(
            values.map { key, value in .set(key, value: value, flags: common) }, limits: limits)
    }

    /// Deletes every key, in quiet meta commands (see `setMany`). A key that was not there is
    /// not a failure. Returns the keys that could not be deleted, each with its error.
    ///
    /// ```swift
    /// let failed = try await cache.deleteMany(["a", "b"])
    /// ```
    public func deleteMany(_ keys: [MemcacheKey], limits: MemcacheBulkLimits = MemcacheBulkLimits()) async throws
        -> [MemcacheKey: MemcacheError]
    {
        try self.requireMeta("deleteMany")
        return try await self.writeMany(keys.map { .delete($0) }, limits: limits)
    }

    /// Sends `commands` (meta commands with a key) in quiet exchanges within `limits`, each
    /// command fenced by `mn` so that every failure is reported for its own key.
    public func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
        MemcacheError]
    {
        try self.requireMeta("a bulk write")
        return try await MemcacheBulkWrite.run(commands, limits: limits, on: self)
    }

    /// Throws `.unsupportedCommand` unless the sender speaks the meta protocol.
    func requireMeta(_ operation: String) throws {
        guard self.wireProtocol == .meta else {
            throw MemcacheError(
                .unsupportedCommand, "\(operation) needs the meta protocol; this server speaks \(self.wireProtocol)")
        }
    }
}
