import Channels
import Codecs
import MemcacheClient
import Testing

/// A memcache client pipeline on an embedded channel: the handler, and the connection façade
/// over it (callers run as tasks on the embedded loop, so everything stays on the test's
/// thread and a loop turn is `loop.run()`).
private struct Client {
    let channel: EmbeddedChannel
    let handler: MemcacheClientHandler
    let connection: MemcacheConnection
    var loop: EmbeddedEventLoop { self.channel.embeddedEventLoop }

    init(responseTimeout: TimeAmount? = nil) throws {
        self.channel = try EmbeddedChannel()
        self.handler = try MemcacheConnection.addHandlers(to: self.channel, responseTimeout: responseTimeout)
        self.connection = MemcacheConnection(channel: self.channel, handler: self.handler)
    }

    /// Everything written so far, as one string per write.
    func writes() throws -> [String] {
        var writes: [String] = []
        while let buffer = try self.channel.readOutbound(as: ByteBuffer.self) { writes.append(String(buffer: buffer)) }
        return writes
    }

    /// Runs `body` as a task on the embedded loop (started by the next `loop.run()`).
    func task<T: Sendable>(_ body: @escaping @Sendable (MemcacheConnection) async throws -> T) -> Task<T, any Error> {
        let connection = self.connection
        return Task(executorPreference: self.loop) { try await body(connection) }
    }
}

/// Collects the outcomes of callback-style sends.
private final class Outcomes: @unchecked Sendable { // SAFETY: used on the test's thread only (the embedded loop's)
    var results: [Int: Result<MemcacheResponse, any Error>] = [:]

    func completion(_ index: Int) -> MemcacheClientHandler.Completion {
        { result in self.results[index] = result }
    }

    func response(_ index: Int) throws -> MemcacheResponse? {
        try self.results[index]?.get()
    }
}

private func value(_ text: String) -> MemcacheResponse {
    .meta(MemcacheMetaResponse(status: .value, value: ByteBuffer(string: text)))
}

extension String {
    fileprivate init(buffer: ByteBuffer) {
        self = buffer.getString(at: buffer.readerIndex, length: buffer.readableBytes) ?? ""
    }
}

@Suite("Memcache client handler")
struct MemcacheClientHandlerTests {
    @Test("requests made in one loop turn leave in one write, and the replies complete their callers in order")
    func oneWritePerTurn() throws {
        let client = try Client()
        let outcomes = Outcomes()
        for (index, key) in ["a", "b", "c"].enumerated() {
            client.handler.send(
                .meta(.get(try MemcacheKey(key), flags: [.returnValue])), completion: outcomes.completion(index))
        }
        client.handler.send(.version, completion: outcomes.completion(3))
        #expect(try client.writes() == [], "nothing leaves before the turn ends")
        client.loop.run()
        #expect(try client.writes() == ["mg a v\r\nmg b v\r\nmg c v\r\nversion\r\n"])
        try client.channel.writeInbound(ByteBuffer(string: "VA 1\r\n1\r\nEN\r\nVA 2\r\n22\r\nVERSION 1.6\r\n"))
        #expect(try outcomes.response(0) == value("1"))
        #expect(try outcomes.response(1) == .meta(MemcacheMetaResponse(status: .miss)))
        #expect(try outcomes.response(2) == value("22"))
        #expect(try outcomes.response(3) == .version("1.6"))
        #expect(client.handler.isClean)
        #expect(try client.channel.finish().isClean)
    }

    @Test("replies split at every byte boundary reach the right callers")
    func everySplit() throws {
        let replies = "VA 3 f7 c99\r\nabc\r\nEN\r\nHD\r\nVA 0\r\n\r\nVALUE k 1 2\r\nxy\r\nEND\r\nSTORED\r\n"
        let bytes = Array(replies.utf8)
        for split in 0...bytes.count {
            let client = try Client()
            let outcomes = Outcomes()
            let requests: [MemcacheRequest] = [
                .meta(.get("a", flags: [.returnValue, .returnFlags, .returnCAS])),
                .meta(.get("b", flags: [.returnValue])),
                .meta(.delete("c")), .meta(.get("d", flags: [.returnValue])), .get(keys: ["k"], withCAS: false),
                .store(MemcacheStore(mode: .set, key: "e", value: ByteBuffer(string: "1"))),
            ]
            for (index, request) in requests.enumerated() {
                client.handler.send(request, completion: outcomes.completion(index))
            }
            client.loop.run()
            _ = try client.writes()
            try client.channel.writeInbound(ByteBuffer(bytes: bytes[..<split]))
            try client.channel.writeInbound(ByteBuffer(bytes: bytes[split...]))
            guard case .meta(let first)? = try outcomes.response(0) else {
                Issue.record("split at \(split): no reply for the first caller")
                continue
            }
            #expect(
                first.value == ByteBuffer(string: "abc") && first.clientFlags == 7 && first.cas == 99,
                "split at \(split)")
            #expect(try outcomes.response(1) == .meta(MemcacheMetaResponse(status: .miss)), "split at \(split)")
            #expect(try outcomes.response(2) == .meta(MemcacheMetaResponse(status: .headerOnly)), "split at \(split)")
            #expect(try outcomes.response(3) == value(""), "split at \(split)")
            #expect(
                try outcomes.response(4)
                    == .values([MemcacheItem(key: Array("k".utf8), flags: 1, cas: nil, value: ByteBuffer(string: "xy"))]
                    ), "split at \(split)")
            #expect(try outcomes.response(5) == .stored, "split at \(split)")
            #expect(try client.channel.finish().isClean)
        }
    }

    @Test("garbage from the server fails every request in flight with a typed error and closes the connection")
    func garbage() throws {
        let client = try Client()
        let outcomes = Outcomes()
        client.handler.send(.version, completion: outcomes.completion(0))
        client.handler.send(.version, completion: outcomes.completion(1))
        client.loop.run()
        try client.channel.writeInbound(ByteBuffer(string: "VERSION 1\r\nGARBAGE\r\n"))
        #expect(try outcomes.response(0) == .version("1"))
        let error = #expect(throws: MemcacheError.self) { try outcomes.response(1) }
        #expect(error?.code == .protocolViolation)
        #expect(error?.closedBeforeReply == false, "a broken stream is never retried")
        #expect(!client.channel.isActive)
        // Later requests fail at once, with the same reason.
        client.handler.send(.version, completion: outcomes.completion(2))
        #expect((#expect(throws: MemcacheError.self) { try outcomes.response(2) })?.code == .protocolViolation)
        _ = try client.channel.finish()
    }

    @Test("a reply nobody asked for closes the connection")
    func unexpectedReply() throws {
        let client = try Client()
        try client.channel.writeInbound(ByteBuffer(string: "HD\r\n"))
        #expect(!client.channel.isActive)
        _ = try client.channel.finish()
    }

    @Test("a silent server fails the requests in flight after the response timeout and the connection closes")
    func responseTimeout() throws {
        let client = try Client(responseTimeout: .seconds(2))
        let outcomes = Outcomes()
        client.handler.send(.version, completion: outcomes.completion(0))
        client.loop.run()
        client.loop.advanceTime(by: .seconds(1))
        #expect(outcomes.results[0] == nil)
        client.loop.advanceTime(by: .seconds(2))
        let error = #expect(throws: MemcacheError.self) { try outcomes.response(0) }
        #expect(error?.code == .timeout)
        #expect(error?.closedBeforeReply == false)
        #expect(!client.channel.isActive)
        _ = try client.channel.finish()
    }

    @Test("replies keep the response clock going: a busy connection does not time out")
    func timeoutRearms() throws {
        let client = try Client(responseTimeout: .seconds(2))
        let outcomes = Outcomes()
        for round in 0..<5 {
            client.handler.send(.version, completion: outcomes.completion(round))
            client.loop.run()
            #expect(try client.writes() == ["version\r\n"])
            client.loop.advanceTime(by: .milliseconds(1500))
            try client.channel.writeInbound(ByteBuffer(string: "VERSION 1\r\n"))
            #expect(try outcomes.response(round) == .version("1"))
        }
        #expect(client.channel.isActive)
        #expect(try client.channel.finish().isClean)
        // The response timer is still armed: a pending task holds its promise, whose future
        // holds the loop that holds the task; shutting the loop down fails and drops it.
        client.loop.shutdown()
    }

    @Test("a quiet batch goes out closed by mn, its kept replies arrive before MN completes it")
    func quietBatch() async throws {
        let client = try Client()
        let partials = LockedValue<[MemcacheResponse]>([])
        let batch = client.task { connection in
            try await connection.sendBatch([.get("a", flags: [.returnValue, .returnKey]), .delete("b")]) { reply in
                partials.withLock { $0.append(reply) }
            }
        }
        client.loop.run()
        #expect(try client.writes() == ["mg a v k q\r\nmd b q\r\nmn\r\n"])
        try client.channel.writeInbound(ByteBuffer(string: "VA 1 ka\r\n1\r\nNF\r\nMN\r\n"))
        #expect(try await batch.value == .meta(MemcacheMetaResponse(status: .noop)))
        #expect(partials.withLock { $0.count } == 2)
        #expect(try client.channel.finish().isClean)
    }

    @Test("a lone quiet command is closed by mn and answers what the quiet mode kept, or the status it suppressed")
    func loneQuiet() throws {
        let client = try Client()
        let outcomes = Outcomes()
        client.handler.send(.meta(.get("a", flags: [.returnValue, .quiet])), completion: outcomes.completion(0))
        client.handler.send(.meta(.get("b", flags: [.returnValue, .quiet])), completion: outcomes.completion(1))
        client.handler.send(
            .meta(.set("c", value: ByteBuffer(string: "x"), flags: [.quiet])), completion: outcomes.completion(2))
        client.loop.run()
        #expect(try client.writes() == ["mg a v q\r\nmn\r\nmg b v q\r\nmn\r\nms c 1 q\r\nx\r\nmn\r\n"])
        try client.channel.writeInbound(ByteBuffer(string: "MN\r\nVA 1\r\nz\r\nMN\r\nMN\r\n"))
        #expect(try outcomes.response(0) == .meta(MemcacheMetaResponse(status: .miss)))
        #expect(try outcomes.response(1) == value("z"))
        #expect(try outcomes.response(2) == .meta(MemcacheMetaResponse(status: .headerOnly)))
        #expect(try client.channel.finish().isClean)
    }

    @Test("noreply requests complete once their turn's write is done; a request that cannot be encoded fails alone")
    func noreplyAndEncodingFailure() throws {
        let client = try Client()
        let outcomes = Outcomes()
        client.handler.send(.delete(key: "a", noreply: true), completion: outcomes.completion(0))
        client.handler.send(
            .get(keys: [try MemcacheKey.binary([0, 1])], withCAS: false), completion: outcomes.completion(1))
        client.handler.send(.version, completion: outcomes.completion(2))
        #expect(throws: MemcacheError.self) { try outcomes.response(1) }
        #expect(outcomes.results[0] == nil)
        client.loop.run()
        #expect(try outcomes.response(0) == .ok)
        #expect(try client.writes() == ["delete a noreply\r\nversion\r\n"])
        try client.channel.writeInbound(ByteBuffer(string: "VERSION 2\r\n"))
        #expect(try outcomes.response(2) == .version("2"))
        #expect(try client.channel.finish().isClean)
    }

    @Test("a cancelled caller is released at once; its reply is read and dropped and the connection goes on")
    func cancellation() async throws {
        let client = try Client()
        let abandoned = client.task { try await $0.get("a") }
        let patient = client.task { try await $0.get("b") }
        client.loop.run()
        #expect(try client.writes() == ["mg a v\r\nmg b v\r\n"])
        abandoned.cancel()
        client.loop.run()
        await #expect(throws: CancellationError.self) { try await abandoned.value }
        try client.channel.writeInbound(ByteBuffer(string: "VA 3\r\nold\r\nVA 3\r\nnew\r\n"))
        #expect(try await patient.value == ByteBuffer(string: "new"))
        #expect(client.channel.isActive)
        #expect(client.handler.isClean)
        #expect(try client.channel.finish().isClean)
    }

    @Test("a task cancelled before it sends throws at once and sends nothing")
    func cancelledBeforeSending() async throws {
        let client = try Client()
        let task = client.task { connection in
            withUnsafeCurrentTask { $0?.cancel() }
            return try await connection.get("a")
        }
        client.loop.run()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try client.writes() == [])
        #expect(try client.channel.finish().isClean)
    }

    @Test("code written against some MemcacheRequestSender gets the batching: concurrent gets leave in one write")
    func genericSenderBatches() async throws {
        let client = try Client()
        @Sendable func fetchAll(_ cache: some MemcacheRequestSender, _ keys: [MemcacheKey]) async throws
            -> [MemcacheItem?]
        {
            try await withThrowingTaskGroup(of: (Int, MemcacheItem?).self) { group in
                for (index, key) in keys.enumerated() { group.addTask { (index, try await cache.getItem(key)) } }
                var items = [MemcacheItem?](repeating: nil, count: keys.count)
                for try await (index, item) in group { items[index] = item }
                return items
            }
        }
        let keys: [MemcacheKey] = ["k1", "k2", "k3", "k4"]
        let fetched = client.task { try await fetchAll($0, keys) }
        client.loop.run()
        let writes = try client.writes()
        #expect(writes.count == 1)
        #expect(
            Set((writes.first ?? "").split(separator: "\r\n")) == [
                "mg k1 v f c", "mg k2 v f c", "mg k3 v f c", "mg k4 v f c",
            ])
        // Each caller gets its own key's item or miss, whatever order the requests left in.
        let order = (writes.first ?? "").split(separator: "\r\n").map { String($0.split(separator: " ")[1]) }
        var replies = ""
        for key in order { replies += key == "k3" ? "EN\r\n" : "VA 2 f5 c1\r\n\(key)\r\n" }
        try client.channel.writeInbound(ByteBuffer(string: replies))
        let items = try await fetched.value
        #expect(items.map { $0.map { String(buffer: $0.value) } } == ["k1", "k2", nil, "k4"])
        #expect(items[0]?.flags == 5)
        #expect(try client.channel.finish().isClean)
    }

    @Test("closing the connection fails what is in flight; the pool's clean check sees it")
    func closeFailsInFlight() throws {
        let client = try Client()
        let outcomes = Outcomes()
        client.handler.send(.version, completion: outcomes.completion(0))
        client.loop.run()
        #expect(!client.handler.isClean)
        #expect(client.handler.outstandingCount == 1)
        _ = try client.channel.finish()
        let error = #expect(throws: MemcacheError.self) { try outcomes.response(0) }
        #expect(error?.code == .connectionClosed)
        #expect(error?.closedBeforeReply == true)
        #expect(client.handler.isClean)
        // A request that reaches the closed connection later is refused unsent: safe to resend.
        client.handler.send(.version, completion: outcomes.completion(1))
        let late = #expect(throws: MemcacheError.self) { try outcomes.response(1) }
        #expect(late?.code == .connectionClosed)
        #expect(late?.closedBeforeReply == true)
    }
}
