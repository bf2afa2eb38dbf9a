import Channels
import Codecs
import MemcacheClient
import Testing

/// A client connection on an embedded channel that speaks `wireProtocol`; callers run as tasks
/// on the embedded loop, so a loop turn is `loop.run()`.
private struct TextClient {
    let channel: EmbeddedChannel
    let connection: MemcacheConnection
    var loop: EmbeddedEventLoop { self.channel.embeddedEventLoop }

    init(_ wireProtocol: MemcacheProtocol) throws {
        self.channel = try EmbeddedChannel()
        let handler = try MemcacheConnection.addHandlers(to: self.channel, wireProtocol: wireProtocol)
        self.connection = MemcacheConnection(channel: self.channel, handler: handler)
    }

    /// Runs `call` to its request, checks the bytes it wrote, answers with `reply` and returns
    /// its result.
    func exchange<T: Sendable>(
        _ call: @escaping @Sendable (MemcacheConnection) async throws -> T, sends expected: String, reply: String
    ) async throws -> T {
        let connection = self.connection
        let task = Task(executorPreference: self.loop) { try await call(connection) }
        self.loop.run()
        #expect(try self.written() == expected)
        try self.channel.writeInbound(ByteBuffer(string: reply))
        return try await task.value
    }

    func written() throws -> String {
        var text = ""
        while let buffer = try self.channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
        return text
    }
}

@Suite("Memcache text protocol mode")
struct MemcacheTextProtocolTests {
    @Test("every everyday command goes out in the classic text protocol and reads its text reply")
    func everyCommandInText() async throws {
        let client = try TextClient(.text)
        let value = ByteBuffer(string: "abc")
        #expect(
            try await client.exchange(
                { try await $0.get("k") }, sends: "get k\r\n", reply: "VALUE k 0 3\r\nabc\r\nEND\r\n") == value)
        #expect(try await client.exchange({ try await $0.get("k") }, sends: "get k\r\n", reply: "END\r\n") == nil)
        let item = try await client.exchange(
            { try await $0.getItem("k") }, sends: "gets k\r\n", reply: "VALUE k 7 3 99\r\nabc\r\nEND\r\n")
        #expect(item?.flags == 7 && item?.cas == 99 && item?.value == value)
        let touched = try await client.exchange(
            { try await $0.getAndTouch("k", ttl: 30) }, sends: "gats 30 k\r\n", reply: "VALUE k 0 3 5\r\nabc\r\nEND\r\n"
        )
        #expect(touched?.cas == 5)
        try await client.exchange(
            { try await $0.set("k", to: value, flags: 2, ttl: 9) }, sends: "set k 2 9 3\r\nabc\r\n", reply: "STORED\r\n"
        )
        #expect(
            try await client.exchange(
                { try await $0.add("k", value: value) }, sends: "add k 0 0 3\r\nabc\r\n", reply: "NOT_STORED\r\n")
                == false)
        #expect(
            try await client.exchange(
                { try await $0.replace("k", value: value) }, sends: "replace k 0 0 3\r\nabc\r\n", reply: "STORED\r\n"))
        #expect(
            try await client.exchange(
                { try await $0.append("k", value) }, sends: "append k 0 0 3\r\nabc\r\n", reply: "STORED\r\n"))
        #expect(
            try await client.exchange(
                { try await $0.prepend("k", value) }, sends: "prepend k 0 0 3\r\nabc\r\n", reply: "NOT_STORED\r\n")
                == false)
        #expect(
            try await client.exchange(
                { try await $0.cas("k", value: value, cas: 99) }, sends: "cas k 0 0 3 99\r\nabc\r\n",
                reply: "EXISTS\r\n") == .exists)
        #expect(
            try await client.exchange(
                { try await $0.cas("k", value: value, cas: 99) }, sends: "cas k 0 0 3 99\r\nabc\r\n",
                reply: "NOT_FOUND\r\n") == .notFound)
        #expect(try await client.exchange({ try await $0.delete("k") }, sends: "delete k\r\n", reply: "DELETED\r\n"))
        #expect(
            try await client.exchange({ try await $0.delete("k") }, sends: "delete k\r\n", reply: "NOT_FOUND\r\n")
                == false)
        #expect(
            try await client.exchange({ try await $0.increment("n", by: 5) }, sends: "incr n 5\r\n", reply: "12\r\n")
                == 12)
        #expect(
            try await client.exchange({ try await $0.decrement("n") }, sends: "decr n 1\r\n", reply: "NOT_FOUND\r\n")
                == nil)
        #expect(
            try await client.exchange({ try await $0.touch("k", ttl: 3) }, sends: "touch k 3\r\n", reply: "TOUCHED\r\n")
        )
        #expect(
            try await client.exchange({ try await $0.version() }, sends: "version\r\n", reply: "VERSION 1.6.18\r\n")
                == "1.6.18")
        try await client.exchange({ try await $0.flushAll() }, sends: "flush_all\r\n", reply: "OK\r\n")
        #expect(try client.channel.finish().isClean)
    }

    @Test("gets that meet in one loop turn still leave in one write, and each caller gets its own value")
    func coalescedInText() async throws {
        let client = try TextClient(.twemproxy)
        let connection = client.connection
        let tasks = ["a", "b", "c"].map { key in
            Task(executorPreference: client.loop) { try await connection.get(MemcacheKey(key)) }
        }
        client.loop.run()
        var writes: [String] = []
        while let buffer = try client.channel.readOutbound(as: ByteBuffer.self) {
            writes.append(String(buffer: buffer))
        }
        #expect(writes.count == 1)
        #expect(Set((writes.first ?? "").split(separator: "\r\n")) == ["get a", "get b", "get c"])
        // Answered in the order they left.
        let order = (writes.first ?? "").split(separator: "\r\n").map { $0.dropFirst(4) }
        try client.channel.writeInbound(
            ByteBuffer(string: order.map { "VALUE \($0) 0 1\r\n\($0)\r\nEND\r\n" }.joined()))
        for (task, key) in zip(tasks, ["a", "b", "c"]) { #expect(try await task.value == ByteBuffer(string: key)) }
        #expect(try client.channel.finish().isClean)
    }

    @Test("a multi-get's values are matched by key, whatever order the proxy returns them in")
    func multiGetMatchedByKey() async throws {
        let client = try TextClient(.twemproxy)
        let found = try await client.exchange(
            { try await $0.getMany(["a", "b", "c"]) }, sends: "get a b c\r\n",
            reply: "VALUE c 0 1\r\nC\r\nVALUE a 0 1\r\nA\r\nEND\r\n")
        #expect(found.mapValues { String(buffer: $0) } == ["a": "A", "c": "C"])
        #expect(try client.channel.finish().isClean)
    }

    @Test("a command the protocol lacks fails alone, with its typed error, and nothing of it is sent")
    func unsupportedCommandsFailAlone() async throws {
        let client = try TextClient(.twemproxy)
        let connection = client.connection
        let refused: [@Sendable (MemcacheConnection) async throws -> Void] = [
            { _ = try await $0.getAndTouch("k", ttl: 1) },
            { _ = try await $0.stats() },
            { try await $0.flushAll() },
            { try await $0.verbosity(1) },
            { _ = try await $0.send(.meta(.get(MemcacheKey("k"), flags: [.returnValue]))) },
            { _ = try await $0.sendBatch([.get(MemcacheKey("k"), flags: [.returnValue])], onReply: { _ in }) },
        ]
        for call in refused {
            // Sent in the same turn as a get, which still goes out and is answered.
            let get = Task(executorPreference: client.loop) { try await connection.get("k") }
            let other = Task(executorPreference: client.loop) { try await call(connection) }
            client.loop.run()
            #expect(try client.written() == "get k\r\n")
            try client.channel.writeInbound(ByteBuffer(string: "VALUE k 0 1\r\nv\r\nEND\r\n"))
            #expect(try await get.value == ByteBuffer(string: "v"))
            await #expect(throws: MemcacheError.self) { try await other.value }
            do { try await other.value } catch let error as MemcacheError {
                #expect(error.code == .unsupportedCommand, "\(error)")
            }
        }
        #expect(client.channel.isActive)
        #expect(try client.channel.finish().isClean)
    }

    @Test("the text protocol refuses meta commands and cannot carry binary keys; neither sends anything")
    func textRefusesMetaAndBinaryKeys() async throws {
        let client = try TextClient(.text)
        let connection = client.connection
        let meta = Task(executorPreference: client.loop) { try await connection.send(.meta(.noop)) }
        let binary = Task(executorPreference: client.loop) { try await connection.get(MemcacheKey.binary([0, 1, 2])) }
        client.loop.run()
        #expect(try client.written() == "")
        do {
            _ = try await meta.value
            Issue.record("a meta command was sent")
        } catch let error as MemcacheError {
            #expect(error.code == .unsupportedCommand)
        }
        do {
            _ = try await binary.value
            Issue.record("a binary key was sent")
        } catch let error as MemcacheError {
            #expect(error.code == .invalidArgument)
        }
        #expect(try client.channel.finish().isClean)
    }
}
