import Channels
import TestSupport
import Testing

/// A client and a server `TLSHandler` on two embedded channels, with the ciphertext moved
/// between them by hand: what leaves, and when, is visible message by message.
private struct EmbeddedTLSPair {
    let client: EmbeddedChannel
    let server: EmbeddedChannel

    /// What the client's TLS handler sent down, in order: "w" a write, "f" a flush.
    let clientEvents = LockedValue("")

    init() throws {
        let (chain, key) = Certificates.identity("server")
        let serverContext = try TLSContext.patient(configuration: .server(certificateChain: chain, privateKey: key))
        let clientContext = try TLSContext.patient(configuration: .client(trustRoots: Certificates.ca))
        self.server = try EmbeddedChannel(handlers: [try TLSHandler(context: serverContext)])
        self.client = try EmbeddedChannel(handlers: [
            OutboundRecorder(events: self.clientEvents),
            try TLSHandler(context: clientContext, serverHostname: "localhost"),
        ])
        for _ in 0..<10 {
            let moved =
                try Self.move(from: self.client, to: self.server) + Self.move(from: self.server, to: self.client)
            if moved == 0 { break }
        }
    }

    /// Moves every ciphertext message `from` sent into `to`; returns how many.
    @discardableResult
    static func move(from: EmbeddedChannel, to: EmbeddedChannel) throws -> Int {
        var count = 0
        while let ciphertext = try from.readOutbound(as: ByteBuffer.self) {
            try to.writeInbound(ciphertext)
            count += 1
        }
        return count
    }

    /// Closes both channels the TLS way (close_notify each way), which ends their pipelines'
    /// reference cycles; a TLS close alone waits for the peer's close_notify.
    func finish() {
        _ = self.client.close()
        _ = try? Self.move(from: self.client, to: self.server)
        _ = try? Self.move(from: self.server, to: self.client)
        _ = try? self.client.finish()
        _ = try? self.server.finish()
    }

    /// The plaintext the server's TLS handler passed on.
    func serverPlaintext() throws -> [UInt8] {
        var bytes: [UInt8] = []
        while let plaintext = try self.server.readInbound(as: ByteBuffer.self) {
            plaintext.withUnsafeReadableBytes { bytes.append(contentsOf: $0) }
        }
        return bytes
    }
}

/// Notes each write and flush passing down the pipeline.
private final class OutboundRecorder: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    let events: LockedValue<String>
    init(events: LockedValue<String>) { self.events = events }

    func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        self.events.withLock { $0 += "w" }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        self.events.withLock { $0 += "f" }
        context.flush()
    }
}

@Suite("TLS writes and flushes")
struct TLSFlushTests {
    @Test("writes are encrypted at the flush; a large flush leaves in pieces, each flushed as it is made")
    func largeFlushInPieces() throws {
        let pair = try EmbeddedTLSPair()
        defer { pair.finish() }
        let payload = randomBytes(count: 200 * 1024, seed: 3)
        pair.clientEvents.withLock { $0 = "" }
        pair.client.pipeline.syncOperations.write(ByteBuffer(bytes: payload), promise: nil)
        #expect(pair.clientEvents.withLock { $0 } == "", "nothing is encrypted before the flush")
        pair.client.pipeline.syncOperations.flush()
        #expect(pair.clientEvents.withLock { $0 } == "wfwfwfwf", "each piece goes out as soon as it is encrypted")
        var pieces: [Int] = []
        while let piece = try pair.client.readOutbound(as: ByteBuffer.self) {
            pieces.append(piece.readableBytes)
            try pair.server.writeInbound(piece)
        }
        // 64 KiB of plaintext per piece: three full pieces and the rest.
        #expect(pieces.count == 4, "\(pieces)")
        #expect(pieces.dropLast().allSatisfy { $0 > 64 * 1024 && $0 < 65 * 1024 }, "\(pieces)")
        #expect(sameBytes(try pair.serverPlaintext(), payload))
    }

    @Test("small writes flushed together each become records of their own, in order, in one flush")
    func smallWrites() throws {
        let pair = try EmbeddedTLSPair()
        defer { pair.finish() }
        for index in 0..<100 {
            pair.client.pipeline.syncOperations.write(ByteBuffer(bytes: [UInt8(index)]), promise: nil)
        }
        pair.client.pipeline.syncOperations.flush()
        try EmbeddedTLSPair.move(from: pair.client, to: pair.server)
        #expect(try pair.serverPlaintext() == (0..<100).map { UInt8($0) })
    }

    @Test("writes not yet flushed when the channel closes are encrypted and sent ahead of close_notify")
    func closeSendsPendingWrites() throws {
        let pair = try EmbeddedTLSPair()
        defer { pair.finish() }
        let written = pair.client.embeddedEventLoop.makePromise(of: Void.self)
        pair.client.pipeline.syncOperations.write(ByteBuffer(string: "last words"), promise: written)
        _ = pair.client.close()
        pair.client.embeddedEventLoop.run()
        try EmbeddedTLSPair.move(from: pair.client, to: pair.server)
        #expect(try pair.serverPlaintext() == Array("last words".utf8))
        let succeeded = LockedValue(false)
        written.futureResult.whenSuccess { succeeded.withLock { $0 = true } }
        #expect(succeeded.withLock { $0 })
    }
}
