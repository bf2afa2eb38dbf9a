import Channels
import Glibc
import TestSupport
import Testing

/// Server side of a STARTTLS exchange: answers "GO\n" to "STARTTLS\n", then puts TLS in
/// front of the echo handler and steps aside.
final class StartTLSResponder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let context: TLSContext
    init(context: TLSContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        var buffer = self.unwrapInboundIn(data)
        guard buffer.readString() == "STARTTLS\n" else { return }
        context.writeAndFlush(PipelineMessage(ByteBuffer(string: "GO\n")), promise: nil)
        do {
            try context.pipeline.syncOperations.addHandler(try TLSHandler(context: self.context), position: .first)
            try context.pipeline.syncOperations.removeHandler(context: context)
        } catch {
            context.fireErrorCaught(error)
        }
    }
}

/// Client side: waits for "GO\n", then upgrades and sends its message over TLS.
final class StartTLSRequester: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let context: TLSContext
    let message: ByteBuffer
    init(context: TLSContext, message: ByteBuffer) {
        self.context = context
        self.message = message
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(PipelineMessage(ByteBuffer(string: "STARTTLS\n")), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        var buffer = self.unwrapInboundIn(data)
        guard buffer.readString() == "GO\n" else { return }
        do {
            try context.pipeline.syncOperations.addHandler(
                try TLSHandler(context: self.context, serverHostname: "localhost"), position: .first)
            try context.pipeline.syncOperations.removeHandler(context: context)
        } catch {
            context.fireErrorCaught(error)
        }
        // Written now, sent once the handshake is done: never in clear.
        context.pipeline.channel.writeAndFlush(self.message).whenComplete { _ in }
    }
}

@Suite("TLS added to a running pipeline")
struct StartTLSTests {
    @Test("STARTTLS: both sides upgrade mid-connection and the echo flows over TLS")
    func startTLS() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let serverContext = try TLSContext.patient(configuration: .server(certificateChain: chain, privateKey: key))
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer {
                try $0.pipeline.syncOperations.addHandlers(StartTLSResponder(context: serverContext), EchoHandler())
            }
            .bind(host: "127.0.0.1", port: 0)
        let clientContext = try TLSContext.patient(configuration: .client(trustRoots: Certificates.ca))
        let done = group.loops[0].makePromise(of: [UInt8].self)
        let message = ByteBuffer(string: "upgraded and private")
        let client = try await ClientBootstrap(loop: group.loops[0])
            .channelInitializer { channel in
                try channel.pipeline.syncOperations.addHandlers(
                    StartTLSRequester(context: clientContext, message: message),
                    ByteCollector(expected: message.readableBytes, done: done))
            }
            .connect(to: server.localAddress).get()
        #expect(try await done.futureResult.get() == Array("upgraded and private".utf8))
        #expect(client.pipeline.syncOperationsNamesForTests.contains { $0.hasPrefix("TLSHandler") })
        try await client.close().get()
        try await server.close()
    }

    @Test("a peer that closes in the middle of a record fails the handshake with a TLS error")
    func closeMidRecord() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { try $0.pipeline.syncOperations.addHandler(HalfRecordSender()) }
            .bind(host: "127.0.0.1", port: 0)
        let client = try await connectTLSClient(
            group: group, to: server.localAddress, configuration: .client(trustRoots: Certificates.ca))
        do {
            _ = try await client.observer.handshake.futureResult.get()
            Issue.record("half a record completed a handshake")
        } catch let error as TLSError {
            #expect(error.code == .handshakeFailed, "\(error)")
        }
        try await client.channel.closeFuture.get()
        try await server.close()
    }
}

/// Answers a ClientHello with the first half of a handshake record, then hangs up.
final class HalfRecordSender: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        // A handshake record header announcing 80 bytes, and only 10 of them.
        let partial: [UInt8] = [0x16, 0x03, 0x03, 0x00, 0x50] + [UInt8](repeating: 0x02, count: 10)
        context.writeAndFlush(PipelineMessage(ByteBuffer(bytes: partial)), promise: nil)
        context.close(promise: nil)
    }
}

extension ChannelPipeline {
    /// Handler names, read on the pipeline's loop (tests only).
    var syncOperationsNamesForTests: [String] {
        (try? self.eventLoop.submit { self.syncOperations.handlerNames }.waitForTests()) ?? []
    }
}

extension EventLoopFuture {
    /// Blocks until the result is there (tests only; never on the future's loop).
    func waitForTests() throws -> Value {
        let result = LockedValue<Result<Value, any Error>?>(nil)
        self.whenComplete { value in result.withLock { $0 = value } }
        while true {
            if let value = result.withLock({ $0 }) { return try value.get() }
            usleep(1000)
        }
    }
}
