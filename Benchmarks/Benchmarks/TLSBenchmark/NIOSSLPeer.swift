import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

// The SwiftNIO + NIOSSL peer of the TLS benchmark: the same shapes (1 MiB client to server,
// one acknowledgement byte per mebibyte; full handshakes), written the way one would with
// SwiftNIO 2.101 and swift-nio-ssl 2.37 (BoringSSL). Kept in its own file so that NIO's type
// names never meet this library's.

/// The test identities as NIOSSL configurations.
enum NIOSSLIdentities {
    static func server(fixtures: String) throws -> NIOSSLContext {
        let chain = try NIOSSLCertificate.fromPEMFile(fixtures + "/server.pem").map {
            NIOSSLCertificateSource.certificate($0)
        }
        let key = try NIOSSLPrivateKey(file: fixtures + "/server.key", format: .pem)
        return try NIOSSLContext(
            configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
    }

    static func client(fixtures: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.trustRoots = .file(fixtures + "/ca.pem")
        return try NIOSSLContext(configuration: configuration)
    }
}

/// A NIO server and one client connection, TLS or plaintext, moving mebibytes.
final class NIOBulkPair: Sendable {
    /// A thread for the server and one for the client, as on our side.
    private let groups: [MultiThreadedEventLoopGroup]
    private let server: any NIOCore.Channel
    private let client: any NIOCore.Channel
    private let acks: NIOAckWaiter
    private let payload = NIOCore.ByteBuffer(bytes: [UInt8](repeating: 0x5a, count: 1 << 20))

    private init(
        groups: [MultiThreadedEventLoopGroup], server: any NIOCore.Channel, client: any NIOCore.Channel,
        acks: NIOAckWaiter
    ) {
        self.groups = groups
        self.server = server
        self.client = client
        self.acks = acks
    }

    static func start(useTLS: Bool, fixtures: String) async throws -> NIOBulkPair {
        let serverGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let serverContext = try NIOSSLIdentities.server(fixtures: fixtures)
        let clientContext = try NIOSSLIdentities.client(fixtures: fixtures)
        let server = try await ServerBootstrap(group: serverGroup)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if useTLS {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext))
                    }
                    try channel.pipeline.syncOperations.addHandler(NIOMebibyteAcknowledger())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let acks = NIOAckWaiter()
        let client = try await ClientBootstrap(group: clientGroup)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if useTLS {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: clientContext, serverHostname: "localhost"))
                    }
                    try channel.pipeline.syncOperations.addHandler(acks)
                }
            }
            .connect(to: server.localAddress!).get() // SAFETY: a bound server has an address
        return NIOBulkPair(groups: [serverGroup, clientGroup], server: server, client: client, acks: acks)
    }

    /// Sends 1 MiB and waits until the server acknowledged it.
    func sendMebibyte() async throws {
        let promise = self.client.eventLoop.makePromise(of: Void.self)
        let client = self.client
        let acks = self.acks
        let payload = self.payload
        client.eventLoop.execute {
            acks.waiting.append(promise)
            client.writeAndFlush(payload, promise: nil)
        }
        try await promise.futureResult.get()
    }

    func stop() async throws {
        try await self.client.close()
        try await self.server.close()
        for group in self.groups { try await group.shutdownGracefully() }
    }
}

/// A NIOSSL server; each `handshake()` connects, completes a TLS handshake and closes.
final class NIOHandshakes: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let server: any NIOCore.Channel
    private let clientContext: NIOSSLContext

    private init(group: MultiThreadedEventLoopGroup, server: any NIOCore.Channel, clientContext: NIOSSLContext) {
        self.group = group
        self.server = server
        self.clientContext = clientContext
    }

    static func start(fixtures: String) async throws -> NIOHandshakes {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let serverContext = try NIOSSLIdentities.server(fixtures: fixtures)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: serverContext))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return NIOHandshakes(
            group: group, server: server, clientContext: try NIOSSLIdentities.client(fixtures: fixtures))
    }

    func handshake() async throws {
        let loop = self.group.next()
        let done = loop.makePromise(of: Void.self)
        let context = self.clientContext
        let channel = try await ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                    try channel.pipeline.syncOperations.addHandler(NIOHandshakeWatcher(done: done))
                }
            }
            .connect(to: self.server.localAddress!).get() // SAFETY: a bound server has an address
        try await done.futureResult.get()
        try await channel.close()
    }

    func stop() async throws {
        try await self.server.close()
        try await self.group.shutdownGracefully()
    }
}

/// Sends one byte back per mebibyte received.
final class NIOMebibyteAcknowledger: ChannelInboundHandler {
    typealias InboundIn = NIOCore.ByteBuffer
    typealias OutboundOut = NIOCore.ByteBuffer
    private var received = 0
    func channelRead(context: NIOCore.ChannelHandlerContext, data: NIOAny) {
        self.received += self.unwrapInboundIn(data).readableBytes
        while self.received >= 1 << 20 {
            self.received -= 1 << 20
            context.writeAndFlush(self.wrapOutboundOut(context.channel.allocator.buffer(bytes: [1])), promise: nil)
        }
    }
}

/// Completes the oldest waiting promise per acknowledgement byte.
final class NIOAckWaiter: ChannelInboundHandler, @unchecked Sendable { // SAFETY: `waiting` only on the client's loop
    typealias InboundIn = NIOCore.ByteBuffer
    var waiting = CircularBuffer<EventLoopPromise<Void>>()
    func channelRead(context: NIOCore.ChannelHandlerContext, data: NIOAny) {
        for _ in 0..<self.unwrapInboundIn(data).readableBytes { self.waiting.popFirst()?.succeed(()) }
    }
}

final class NIOHandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = NIOCore.ByteBuffer
    let done: EventLoopPromise<Void>
    init(done: EventLoopPromise<Void>) { self.done = done }
    func userInboundEventTriggered(context: NIOCore.ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent { self.done.succeed(()) }
    }
    func errorCaught(context: NIOCore.ChannelHandlerContext, error: any Error) { self.done.fail(error) }
}
