import Channels
import Codecs
import Testing

/// The generic composition a user's own protocol would use (decoder, encoder, correlator),
/// here with the memcache codec, on an embedded channel.
private func memcacheChannel() throws -> EmbeddedChannel {
    try EmbeddedChannel(handlers: [
        ByteToMessageHandler(MemcacheResponseDecoder()),
        MessageToByteHandler(MemcacheRequestEncoder()),
        RequestResponseHandler<MemcacheRequest, MemcacheResponse>(isTerminator: { response in
            if case .meta(let meta) = response, meta.status == .noop { return true }
            return false
        }),
    ])
}

private func send(_ request: MemcacheRequest, on channel: EmbeddedChannel, expectation: ResponseExpectation = .one)
    -> EventLoopFuture<MemcacheResponse>
{
    let promise = channel.eventLoop.makePromise(of: MemcacheResponse.self)
    channel.writeAndFlush(CorrelatedRequest(request, promise: promise, expectation: expectation)).whenFailure {
        promise.fail($0)
    }
    channel.embeddedEventLoop.run()
    return promise.futureResult
}

@Suite("Request/response correlator")
struct RequestResponseHandlerTests {
    @Test("pipelined requests get their responses in order")
    func inOrder() async throws {
        let channel = try memcacheChannel()
        let first = send(.version, on: channel)
        let second = send(.meta(.get("k", flags: [.returnValue])), on: channel)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "version\r\n"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "mg k v\r\n"))
        try channel.writeInbound(ByteBuffer(string: "VERSION 1\r\nVA 1\r\nx\r\n"))
        #expect(try await first.get() == .version("1"))
        #expect(try await second.get() == .meta(MemcacheMetaResponse(status: .value, value: ByteBuffer(string: "x"))))
        #expect(try channel.finish().isClean)
    }

    @Test("garbage from the server fails every pending request with a typed error and closes the connection")
    func garbageFailsAll() async throws {
        let channel = try memcacheChannel()
        let first = send(.version, on: channel)
        let second = send(.version, on: channel)
        _ = try channel.readOutbound(as: ByteBuffer.self)
        _ = try channel.readOutbound(as: ByteBuffer.self)
        #expect(throws: MemcacheError.self) { try channel.writeInbound(ByteBuffer(string: "GARBAGE\r\n")) }
        for future in [first, second] {
            do {
                _ = try await future.get()
                Issue.record("a request survived garbage")
            } catch let error as RequestResponseError {
                #expect(error.code == .channelClosedBeforeResponse)
                #expect((error.cause as? MemcacheError)?.code == .protocolViolation)
            }
        }
        #expect(!channel.isActive)
        _ = try channel.finish()
    }

    @Test("a response nobody asked for closes the connection")
    func unexpectedResponse() throws {
        let channel = try memcacheChannel()
        try channel.writeInbound(ByteBuffer(string: "STORED\r\n"))
        #expect(!channel.isActive)
        _ = try channel.finish()
    }

    @Test("closing fails outstanding requests; later writes fail at once")
    func closeFailsOutstanding() async throws {
        let channel = try memcacheChannel()
        let pending = send(.version, on: channel)
        _ = try channel.finish()
        await #expect(throws: RequestResponseError.self) { try await pending.get() }
        await #expect(throws: (any Error).self) { try await send(.version, on: channel).get() }
    }

    @Test("a request whose encoding fails is dropped from the queue, so later responses still match")
    func encodingFailure() async throws {
        let channel = try memcacheChannel()
        let binary = try MemcacheKey.binary([1, 2])
        let failed = send(.get(keys: [binary], withCAS: false), on: channel)
        await #expect(throws: MemcacheError.self) { try await failed.get() }
        let next = send(.version, on: channel)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "version\r\n"))
        try channel.writeInbound(ByteBuffer(string: "VERSION 9\r\n"))
        #expect(try await next.get() == .version("9"))
        #expect(try channel.finish().isClean)
    }

    @Test("flushes are coalesced: requests written together leave in one flush, at the end of the loop's turn")
    func coalescedFlush() throws {
        let channel = try memcacheChannel()
        for _ in 0..<3 {
            _ = channel.writeAndFlush(CorrelatedRequest<MemcacheRequest, MemcacheResponse>(.version, promise: nil))
        }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        channel.embeddedEventLoop.run()
        // One buffer (the encoder batches what is written between flushes), one flush.
        #expect(
            try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "version\r\nversion\r\nversion\r\n"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        try channel.writeInbound(ByteBuffer(string: "VERSION 1\r\nVERSION 1\r\nVERSION 1\r\n"))
        #expect(try channel.finish().isClean)
    }

    @Test("a quiet batch collects partial replies until MN")
    func quietBatch() async throws {
        let channel = try memcacheChannel()
        let partials = LockedValue<[MemcacheResponse]>([])
        let promise = channel.eventLoop.makePromise(of: MemcacheResponse.self)
        _ = channel.writeAndFlush(
            CorrelatedRequest(
                MemcacheRequest.metaBatch([
                    .get("a", flags: [.returnValue, .returnKey]), .get("b", flags: [.returnValue, .returnKey]),
                ]),
                promise: promise, expectation: .untilTerminator,
                onPartial: { response in partials.withLock { $0.append(response) } }))
        channel.embeddedEventLoop.run() // the correlator's coalesced flush
        #expect(
            try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "mg a v k q\r\nmg b v k q\r\nmn\r\n"))
        try channel.writeInbound(ByteBuffer(string: "VA 1 ka\r\n1\r\nMN\r\n"))
        #expect(try await promise.futureResult.get() == .meta(MemcacheMetaResponse(status: .noop)))
        #expect(partials.withLock { $0.count } == 1)
        #expect(try channel.finish().isClean)
    }
}
