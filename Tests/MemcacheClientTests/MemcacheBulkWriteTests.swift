import Channels
import Codecs
import MemcacheClient
import Testing

/// `setMany` / `deleteMany` on a connection over an embedded channel: what goes on the wire,
/// and how replies map back to keys.
@Suite("Bulk writes on the wire")
struct MemcacheBulkWriteTests {
    private let channel: EmbeddedChannel
    private let connection: MemcacheConnection

    init() throws {
        self.channel = try EmbeddedChannel()
        let handler = try MemcacheConnection.addHandlers(to: self.channel)
        self.connection = MemcacheConnection(channel: self.channel, handler: handler)
    }

    private var loop: EmbeddedEventLoop { self.channel.embeddedEventLoop }

    /// Closes the channel, which ends its pipeline's reference cycle (LeakSanitizer).
    private func finish() {
        _ = try? self.channel.finish()
    }

    /// Each write the connection made, as text.
    private func writes() throws -> [String] {
        var writes: [String] = []
        while let buffer = try self.channel.readOutbound(as: ByteBuffer.self) {
            writes.append(buffer.getString(at: buffer.readerIndex, length: buffer.readableBytes) ?? "")
        }
        return writes
    }

    /// The command lines of a write (data blocks left out).
    private static func commandLines(_ write: String) -> [Substring] {
        write.split(separator: "\r\n").filter { $0.hasPrefix("ms ") || $0.hasPrefix("md ") || $0 == "mn" }
    }

    @Test(
        "10,000 sets leave in one write: each quiet and fenced by mn, the last closed by the batch's mn; one SERVER_ERROR is reported for its own key"
    )
    func tenThousandInOneExchange() async throws {
        defer { self.finish() }
        var values: [MemcacheKey: ByteBuffer] = [:]
        for index in 0..<10_000 { values[try MemcacheKey("key-\(index)")] = ByteBuffer(string: "value-\(index)") }
        let connection = self.connection
        let task = Task(executorPreference: self.loop) { try await connection.setMany(values, ttl: 60) }
        self.loop.run()
        let writes = try self.writes()
        #expect(writes.count == 1, "one exchange, one write")
        let lines = Self.commandLines(writes.joined())
        let sets = lines.filter { $0.hasPrefix("ms ") }
        #expect(sets.count == 10_000)
        #expect(sets.allSatisfy { $0.hasSuffix(" T60 q") })
        #expect(lines.filter { $0 == "mn" }.count == 10_000, "a fence after each set, the last one the batch's own")
        #expect(lines.last == "mn")

        // The server: every set stored (only MN comes back) but number 4,321, too large.
        let failing = 4_321
        let failingKey = try MemcacheKey(String(sets[failing].split(separator: " ")[1]))
        var replies = String(repeating: "MN\r\n", count: failing)
        replies += "SERVER_ERROR object too large for cache\r\n"
        replies += String(repeating: "MN\r\n", count: 10_000 - failing)
        try self.channel.writeInbound(ByteBuffer(string: replies))
        self.loop.run()
        let failures = try await task.value
        #expect(failures.count == 1)
        #expect(failures[failingKey]?.code == .serverError)
    }

    @Test(
        "limits cut a batch into exchanges by count and by bytes, never more than maximumInFlight on the wire at once")
    func limitsCutAndBound() async throws {
        defer { self.finish() }
        var values: [MemcacheKey: ByteBuffer] = [:]
        for index in 0..<10 {
            values[try MemcacheKey("k\(index)")] = ByteBuffer(string: String(repeating: "a", count: 100))
        }
        let connection = self.connection
        let limits = MemcacheBulkLimits(maximumCommands: 4, maximumBytes: 250, maximumInFlight: 2)
        let task = Task(executorPreference: self.loop) { try await connection.setMany(values, limits: limits) }
        self.loop.run()
        // 250 bytes take two 100-byte values: exchanges of 2 sets (the count limit, 4, is not
        // reached), at most two of them on the wire before their replies come.
        var rounds: [Int] = []
        for _ in 0..<10 {
            let lines = Self.commandLines(try self.writes().joined())
            let sets = lines.filter { $0.hasPrefix("ms ") }.count
            guard sets > 0 else { break }
            rounds.append(sets)
            #expect(lines.filter { $0 == "mn" }.count == sets, "each set fenced")
            // Every set stored: one MN per set.
            try self.channel.writeInbound(ByteBuffer(string: String(repeating: "MN\r\n", count: sets)))
            self.loop.run()
        }
        #expect(rounds.reduce(0, +) == 10)
        #expect(rounds.allSatisfy { $0 <= 4 }, "\(rounds)")
        #expect(rounds.count >= 3, "\(rounds)")
        #expect(try await task.value.isEmpty)
    }

    @Test("deleteMany: NF is not a failure, EX is, and each is its own key's")
    func deleteManyReplies() async throws {
        defer { self.finish() }
        let keys = try (0..<3).map { try MemcacheKey("d\($0)") }
        let connection = self.connection
        let task = Task(executorPreference: self.loop) { try await connection.deleteMany(keys) }
        self.loop.run()
        let lines = Self.commandLines(try self.writes().joined())
        #expect(lines == ["md d0 q", "mn", "md d1 q", "mn", "md d2 q", "mn"])
        try self.channel.writeInbound(ByteBuffer(string: "NF\r\nMN\r\nMN\r\nEX\r\nMN\r\n"))
        self.loop.run()
        let failures = try await task.value
        #expect(Set(failures.keys) == [keys[2]])
    }

    @Test("a bulk write on a text-protocol connection is refused before anything is sent")
    func refusedOnText() async throws {
        defer { self.finish() }
        let channel = try EmbeddedChannel()
        let handler = try MemcacheConnection.addHandlers(to: channel, wireProtocol: .text)
        let connection = MemcacheConnection(channel: channel, handler: handler)
        defer { _ = try? channel.finish() }
        let task = Task(executorPreference: channel.embeddedEventLoop) {
            try await connection.setMany(["a": ByteBuffer(string: "1")])
        }
        channel.embeddedEventLoop.run()
        let error = await #expect(throws: MemcacheError.self) { try await task.value }
        #expect(error?.code == .unsupportedCommand)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
    }
}
