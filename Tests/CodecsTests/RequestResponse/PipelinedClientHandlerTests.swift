import Channels
import Codecs
import TestSupport
import Testing

/// A request is a line of text; a reply is a line.
struct TextLineEncoder: MessageToByteEncoder {
    struct Unencodable: Error {}
    func encode(_ line: String, into buffer: inout ByteBuffer) throws {
        if line.contains("\n") { throw Unencodable() }
        buffer.writeString(line)
        buffer.writeString("\n")
    }
}

typealias LineClientHandler = PipelinedClientHandler<TextLineEncoder, LineFrameDecoder>

/// Collects results on the (embedded) loop.
final class Results: @unchecked Sendable { // SAFETY: used on the test's thread only (embedded loop)
    var values: [Result<String, any Error>] = []
    func completion() -> LineClientHandler.Completion {
        { result in self.values.append(result.map { String(buffer: $0) }) }
    }
    var strings: [String?] { self.values.map { try? $0.get() } }
}

@Suite("PipelinedClientHandler")
struct PipelinedClientHandlerTests {
    static func makeChannel(timeout: TimeAmount? = .seconds(30)) throws -> (EmbeddedChannel, LineClientHandler) {
        let handler = LineClientHandler(
            encoder: TextLineEncoder(), decoder: LineFrameDecoder(maximumLength: 1024), responseTimeout: timeout)
        return (try EmbeddedChannel(handlers: [handler]), handler)
    }

    @Test("the requests of one turn leave in one write; replies complete callers in order, also when cut anywhere")
    func pipelining() throws {
        for cut in 1..<12 {
            let (channel, handler) = try Self.makeChannel()
            let results = Results()
            handler.send("a", completion: results.completion())
            handler.send("bb", completion: results.completion())
            handler.send("ccc", completion: results.completion())
            channel.embeddedEventLoop.run()
            #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "a\nbb\nccc\n"))
            #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
            #expect(!handler.isClean)
            let replies = Array("1\n22\n333\n".utf8)
            let at = min(cut, replies.count - 1)
            try channel.writeInbound(ByteBuffer(bytes: replies[..<at]))
            try channel.writeInbound(ByteBuffer(bytes: replies[at...]))
            #expect(results.strings == ["1", "22", "333"])
            #expect(handler.isClean)
            #expect(try channel.finish().isClean)
        }
    }

    @Test("a request that cannot be encoded fails alone and sends nothing")
    func encodingFailure() throws {
        let (channel, handler) = try Self.makeChannel()
        let results = Results()
        handler.send("ok", completion: results.completion())
        handler.send("two\nlines", completion: results.completion())
        handler.send("fine", completion: results.completion())
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "ok\nfine\n"))
        #expect(results.values.count == 1)
        #expect(throws: TextLineEncoder.Unencodable.self) { try results.values[0].get() }
        try channel.writeInbound(ByteBuffer(string: "A\nB\n"))
        #expect(results.strings.suffix(2) == ["A", "B"])
        #expect(try channel.finish().isClean)
    }

    @Test("a reply with no request waiting, or one that does not decode, fails everything in flight and closes")
    func brokenReplies() throws {
        let (channel, handler) = try Self.makeChannel()
        #expect(throws: Never.self) { try channel.writeInbound(ByteBuffer(string: "unasked\n")) }
        #expect(!channel.isActive)
        let results = Results()
        handler.send("late", completion: results.completion())
        let late = try #require(throws: RequestResponseError.self) { try results.values[0].get() }
        #expect(late.code == .unexpectedResponse)
        _ = try channel.finish()

        let (second, secondHandler) = try Self.makeChannel()
        let pending = Results()
        secondHandler.send("x", completion: pending.completion())
        secondHandler.send("y", completion: pending.completion())
        second.embeddedEventLoop.run()
        try second.writeInbound(ByteBuffer(string: "ok\n" + String(repeating: "z", count: 2000)))
        #expect(pending.strings.first == "ok")
        let tooLong = try #require(throws: RequestResponseError.self) { try pending.values[1].get() }
        #expect(tooLong.code == .unexpectedResponse)
        #expect(tooLong.cause is FramingError)
        #expect(!second.isActive)
        _ = try second.finish()
    }

    @Test("a silent server fails the callers after the response timeout and the connection closes")
    func responseTimeout() throws {
        let (channel, handler) = try Self.makeChannel(timeout: .seconds(2))
        let results = Results()
        handler.send("ping", completion: results.completion())
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        try channel.writeInbound(ByteBuffer(string: "pong\n"))
        handler.send("ping", completion: results.completion())
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1999))
        #expect(results.values.count == 1)
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let error = try #require(throws: RequestResponseError.self) { try results.values[1].get() }
        #expect(error.code == .responseTimeout)
        #expect(!channel.isActive)
        _ = try channel.finish()
    }

    @Test(
        "async callers on real sockets: many in flight, a cancelled caller's reply dropped, the connection still good")
    func asyncCallers() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let answerSlow = LockedValue(false)
        // A line server that answers each line with itself, upper-cased (see "slow" below).
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(
                    ByteToMessageHandler(LineFrameDecoder(maximumLength: 1024)))
            }
            .bind(host: "127.0.0.1", port: 0, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
        let serving = Task {
            try await server.serve { connection in
                for try await line in connection.inbound {
                    let text = String(buffer: line)
                    // "slow" is answered only once the test has seen its caller cancelled.
                    if text == "slow" { _ = try await poll { answerSlow.withLock { $0 } } }
                    try await connection.outbound.write(ByteBuffer(string: text.uppercased() + "\n"))
                }
            }
        }
        let handler = LineClientHandler(
            encoder: TextLineEncoder(), decoder: LineFrameDecoder(maximumLength: 1024), responseTimeout: testPatience)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(handler) }
            .connect(to: server.localAddress).get()
        let replies = try await withThrowingTaskGroup(of: (Int, String).self) { tasks in
            for index in 0..<500 {
                tasks.addTask { (index, String(buffer: try await handler.send("caller \(index)"))) }
            }
            var replies: [Int: String] = [:]
            for try await (index, reply) in tasks { replies[index] = reply }
            return replies
        }
        #expect(replies.count == 500)
        #expect(replies.allSatisfy { $0.value == "CALLER \($0.key)" })

        let cancelled = Task { try await handler.send("slow") }
        try await Task.sleep(for: .milliseconds(20))
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        answerSlow.withLock { $0 = true }
        // The next caller gets its own reply, not the dropped "SLOW".
        #expect(String(buffer: try await handler.send("after")) == "AFTER")
        try await channel.eventLoop.submit { #expect(handler.isClean) }.get()
        try await channel.close().get()
        try await server.close()
        try await serving.value
    }
}
