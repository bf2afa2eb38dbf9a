import Channels
import TestSupport
import Testing

/// Records TLS events and errors of a channel.
final class TLSObserver: ChannelInboundHandler, @unchecked Sendable {
    // SAFETY: written on the channel's loop; read by the test after a promise it completes.
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let handshake: EventLoopPromise<String?>
    var errors: [any Error] = []
    var received = 0

    init(handshake: EventLoopPromise<String?>) { self.handshake = handshake }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.received += self.unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let alpn)? = event as? TLSEvent { self.handshake.succeed(alpn) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.errors.append(error)
        self.handshake.fail(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.handshake.fail(ChannelError(.ioOnClosedChannel, "closed before the handshake completed"))
        context.fireChannelInactive()
    }
}

enum Certificates {
    static let ca = TLSConfiguration.TrustRoots.file(fixturePath("tls/ca.pem"))
    static func identity(_ name: String) -> (TLSConfiguration.PEMSource, TLSConfiguration.PEMSource) {
        (.file(fixturePath("tls/\(name).pem")), .file(fixturePath("tls/\(name).key")))
    }
}

/// A TLS server on 127.0.0.1 that echoes, and records what its TLS layer saw.
struct TLSEchoServer {
    let server: ListeningServer
    let observers: LockedValue<[TLSObserver]>

    static func start(group: EventLoopGroup, configuration: TLSConfiguration, echo: Bool = true) async throws
        -> TLSEchoServer
    {
        let context = try TLSContext.patient(configuration: configuration)
        let observers = LockedValue<[TLSObserver]>([])
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                let observer = TLSObserver(handshake: channel.eventLoop.makePromise(of: String?.self))
                observers.withLock { $0.append(observer) }
                try channel.pipeline.syncOperations.addHandlers(try TLSHandler(context: context), observer)
                if echo { try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
            }
            .bind(host: "127.0.0.1", port: 0)
        return TLSEchoServer(server: server, observers: observers)
    }
}

/// Connects a TLS client that collects `expected` bytes.
func connectTLSClient(
    group: EventLoopGroup,
    to address: SocketAddress,
    configuration: TLSConfiguration,
    hostname: String? = "localhost",
    expected: Int = 0
) async throws -> (channel: any Channel, observer: TLSObserver, received: EventLoopFuture<[UInt8]>) {
    let context = try TLSContext.patient(configuration: configuration)
    let loop = group.next()
    let observer = TLSObserver(handshake: loop.makePromise(of: String?.self))
    let done = loop.makePromise(of: [UInt8].self)
    let channel = try await ClientBootstrap(loop: loop)
        .channelInitializer { channel in
            try channel.pipeline.syncOperations.addHandlers(
                try TLSHandler(context: context, serverHostname: hostname), observer,
                ByteCollector(expected: expected, done: done))
        }
        .connect(to: address).get()
    return (channel, observer, done.futureResult)
}

@Suite("TLS between our client and our server")
struct TLSHandlerTests {
    @Test("1 MiB both ways and many small writes, with ALPN negotiated")
    func bulkAndALPN() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        var serverConfiguration = TLSConfiguration.server(certificateChain: chain, privateKey: key)
        serverConfiguration.alpnProtocols = ["h2", "memcache"]
        let server = try await TLSEchoServer.start(group: group, configuration: serverConfiguration)
        let size = 1 << 20
        let client = try await connectTLSClient(
            group: group, to: server.server.localAddress,
            configuration: .client(trustRoots: Certificates.ca, alpnProtocols: ["memcache"]), expected: size + 1000)
        #expect(try await client.observer.handshake.futureResult.get() == "memcache")
        let payload = randomBytes(count: size, seed: 11)
        try await client.channel.writeAndFlush(ByteBuffer(bytes: payload)).get()
        for index in 0..<1000 {
            client.channel.write(ByteBuffer(bytes: [UInt8(truncatingIfNeeded: index)])).whenComplete { _ in }
        }
        client.channel.flush()
        let echoed = try await client.received.get()
        #expect(echoed.count == size + 1000)
        #expect(sameBytes(Array(echoed.prefix(size)), payload))
        #expect(Array(echoed.suffix(1000)) == (0..<1000).map { UInt8(truncatingIfNeeded: $0) })
        try await client.channel.close().get()
        try await server.server.close()
    }

    @Test("writes issued before the handshake completes are held, then sent encrypted")
    func writesBeforeHandshake() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group, configuration: .server(certificateChain: chain, privateKey: key))
        let client = try await connectTLSClient(
            group: group, to: server.server.localAddress, configuration: .client(trustRoots: Certificates.ca),
            expected: 5)
        // Written immediately after connect: the handshake cannot be done yet.
        try await client.channel.writeAndFlush(ByteBuffer(string: "early")).get()
        #expect(try await client.received.get() == Array("early".utf8))
        try await client.channel.close().get()
        try await server.server.close()
    }

    @Test("mTLS: a required client certificate presented is accepted")
    func mutualTLS() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group,
            configuration: .server(
                certificateChain: chain, privateKey: key, clientCertificates: .required, trustRoots: Certificates.ca))
        let (clientChain, clientKey) = Certificates.identity("client")
        let client = try await connectTLSClient(
            group: group, to: server.server.localAddress,
            configuration: .client(
                trustRoots: Certificates.ca, certificateChain: clientChain, privateKey: clientKey), expected: 2)
        try await client.channel.writeAndFlush(ByteBuffer(string: "ok")).get()
        #expect(try await client.received.get() == Array("ok".utf8))
        try await client.channel.close().get()
        try await server.server.close()
    }

    @Test("mTLS: a required client certificate missing fails with a TLS error (at the first read under TLS 1.3)")
    func mutualTLSMissing() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group,
            configuration: .server(
                certificateChain: chain, privateKey: key, clientCertificates: .required, trustRoots: Certificates.ca))
        let client = try await connectTLSClient(
            group: group, to: server.server.localAddress, configuration: .client(trustRoots: Certificates.ca),
            expected: 1)
        client.channel.writeAndFlush(ByteBuffer(string: "x")).whenComplete { _ in }
        await #expect(throws: (any Error).self) { _ = try await client.received.get() }
        try await client.channel.closeFuture.get()
        let clientErrors = client.observer.errors
        #expect(clientErrors.contains { ($0 as? TLSError)?.message.contains("certificate") == true }, "\(clientErrors)")
        // The server side reports on its own loop, possibly after the client has closed.
        for _ in 0..<500 where !server.observers.withLock({ $0.flatMap(\.errors).contains { $0 is TLSError } }) {
            try await Task.sleep(for: .milliseconds(10))
        }
        let serverErrors = server.observers.withLock { $0.flatMap(\.errors) }
        #expect(serverErrors.contains { $0 is TLSError }, "\(serverErrors)")
        #expect(server.observers.withLock { $0.allSatisfy { $0.received == 0 } })
        try await server.server.close()
    }

    @Test(
        "bad server certificates fail the handshake with the matching error, and no application byte arrives",
        arguments: [
            ("untrusted-ca", "self-signed", ErrorCode<TLSError>.untrustedCertificate),
            ("ca", "self-signed", .untrustedCertificate),
            ("ca", "wrong-host", .hostnameMismatch),
            ("ca", "expired", .certificateExpired),
        ])
    func badCertificates(trusted: String, identity: String, expected: ErrorCode<TLSError>) async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity(identity)
        let server = try await TLSEchoServer.start(
            group: group, configuration: .server(certificateChain: chain, privateKey: key))
        let client = try await connectTLSClient(
            group: group, to: server.server.localAddress,
            configuration: .client(trustRoots: .file(fixturePath("tls/\(trusted).pem"))), expected: 1)
        client.channel.writeAndFlush(ByteBuffer(string: "secret")).whenComplete { _ in }
        do {
            _ = try await client.observer.handshake.futureResult.get()
            Issue.record("the handshake succeeded with \(identity) trusting \(trusted)")
        } catch let error as TLSError {
            #expect(error.code == expected, "\(error)")
        }
        try await client.channel.closeFuture.get()
        #expect(
            server.observers.withLock { $0.allSatisfy { $0.received == 0 } }, "an application byte reached the server")
        try await server.server.close()
    }

    @Test("a server that never answers: the handshake timeout fires")
    func handshakeTimeout() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let silent = try await ServerBootstrap(group: group)
            .childChannelInitializer {
                try $0.pipeline.syncOperations.addHandler(
                    ByteCollector(expected: 1 << 20, done: $0.eventLoop.makePromise()))
            }
            .bind(host: "127.0.0.1", port: 0)
        var configuration = TLSConfiguration.client(trustRoots: Certificates.ca)
        configuration.handshakeTimeout = .milliseconds(200)
        let client = try await connectTLSClient(group: group, to: silent.localAddress, configuration: configuration)
        do {
            _ = try await client.observer.handshake.futureResult.get()
            Issue.record("a silent peer completed a handshake")
        } catch let error as TLSError {
            #expect(error.code == .handshakeTimeout)
        }
        try await client.channel.closeFuture.get()
        try await silent.close()
    }

    @Test("a peer that sends garbage instead of a ServerHello fails the handshake")
    func garbagePeer() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let garbage = try await ServerBootstrap(group: group)
            .childChannelInitializer { try $0.pipeline.syncOperations.addHandler(GarbageSender()) }
            .bind(host: "127.0.0.1", port: 0)
        let client = try await connectTLSClient(
            group: group, to: garbage.localAddress, configuration: .client(trustRoots: Certificates.ca))
        do {
            _ = try await client.observer.handshake.futureResult.get()
            Issue.record("garbage completed a handshake")
        } catch let error as TLSError {
            #expect(error.code == .handshakeFailed, "\(error)")
        }
        try await client.channel.closeFuture.get()
        try await garbage.close()
    }

    @Test("close sends close_notify and the peer sees a clean shutdown")
    func cleanClose() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group, configuration: .server(certificateChain: chain, privateKey: key))
        let client = try await connectTLSClient(
            group: group, to: server.server.localAddress, configuration: .client(trustRoots: Certificates.ca))
        _ = try await client.observer.handshake.futureResult.get()
        try await client.channel.close().get()
        for _ in 0..<100 where server.observers.withLock({ $0.first?.errors.isEmpty == false }) == false {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(client.observer.errors.isEmpty, "\(client.observer.errors)")
        #expect(server.observers.withLock { $0.flatMap(\.errors) }.isEmpty)
        try await server.server.close()
    }

    @Test("full verification without a host name is refused when the handler is made")
    func verificationNeedsHostname() throws {
        let context = try TLSContext.patient(configuration: .client(trustRoots: Certificates.ca))
        #expect(throws: TLSError.self) { _ = try TLSHandler(context: context, serverHostname: nil) }
        #expect(throws: TLSError.self) {
            _ = try TLSContext.patient(configuration: .client(trustRoots: .file("/nonexistent/ca.pem")))
        }
    }
}

/// Answers a TLS client with a few bytes of nonsense.
final class GarbageSender: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        context.writeAndFlush(PipelineMessage(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\n\r\n")), promise: nil)
    }
}
