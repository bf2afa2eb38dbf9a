import Benchmark
import Channels
import Foundation

// TLS cost over loopback: 1 MiB per iteration from client to server, plaintext vs TLS (same
// code path but for the TLS handlers), and full handshakes — this library's handler (OpenSSL 3)
// and SwiftNIO + NIOSSL (BoringSSL) doing the same, in the same run.
// The server acknowledges each mebibyte with one byte, so an iteration ends when all of it
// was received (and decrypted).
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 5,
        maxDuration: .seconds(4),
        maxIterations: 2_000
    )
    for useTLS in [false, true] {
        Benchmark("Bulk 1 MiB client to server, \(useTLS ? "TLS 1.3" : "plaintext")") { benchmark in
            guard let (channel, acks) = bulk.withLock({ $0.client }) else { return }
            let ack = acks.next()
            try await channel.writeAndFlush(payload).get()
            try await ack.get()
        } setup: {
            try await startBulk(useTLS: useTLS)
        } teardown: {
            try await stopBulk()
        }
    }
    for useTLS in [false, true] {
        Benchmark(
            "Bulk 1 MiB client to server, \(useTLS ? "TLS 1.3" : "plaintext"), SwiftNIO\(useTLS ? " + NIOSSL" : "")"
        ) { benchmark in
            guard let pair = nioBulk.withLock({ $0 }) else { return }
            try await pair.sendMebibyte()
        } setup: {
            let pair = try await NIOBulkPair.start(useTLS: useTLS, fixtures: fixturesPath)
            nioBulk.withLock { $0 = pair }
        } teardown: {
            let pair = nioBulk.withLock { pair in
                defer { pair = nil }
                return pair
            }
            try await pair?.stop()
        }
    }
    Benchmark("TLS handshake (connect, handshake, close), SwiftNIO + NIOSSL") { benchmark in
        guard let handshakes = nioHandshakes.withLock({ $0 }) else { return }
        try await handshakes.handshake()
    } setup: {
        let handshakes = try await NIOHandshakes.start(fixtures: fixturesPath)
        nioHandshakes.withLock { $0 = handshakes }
    } teardown: {
        let handshakes = nioHandshakes.withLock { handshakes in
            defer { handshakes = nil }
            return handshakes
        }
        try await handshakes?.stop()
    }
    for resumed in [false, true] {
        Benchmark("TLS handshake (connect, handshake, close)\(resumed ? ", resumed session" : "")") { benchmark in
            guard let state = bulk.withLock({ $0.handshake }) else { return }
            let loop = state.group.next()
            let done = loop.makePromise(of: Void.self)
            let channel = try await ClientBootstrap(loop: loop)
                .channelInitializer { channel in
                    try channel.pipeline.syncOperations.addHandlers(
                        try TLSHandler(context: state.clientContext, serverHostname: "localhost"),
                        HandshakeWatcher(done: done))
                }
                .connect(to: state.server.localAddress).get()
            try await done.futureResult.get()
            try await channel.close().get()
        } setup: {
            let group = try EventLoopGroup(loopCount: 2)
            let (serverContext, clientContext) = try contexts(resumingSessions: resumed)
            let server = try await ServerBootstrap(group: group)
                .childChannelInitializer {
                    try $0.pipeline.syncOperations.addHandler(try TLSHandler(context: serverContext))
                }
                .bind(host: "127.0.0.1", port: 0)
            bulk.withLock { $0.handshake = (group, server, clientContext) }
        } teardown: {
            let state = bulk.withLock { state in
                defer { state.handshake = nil }
                return state.handshake
            }
            try await state?.server.close()
            try await state?.group.shutdownGracefully()
        }
    }
}

let payload = ByteBuffer(bytes: [UInt8](repeating: 0x5a, count: 1 << 20))

struct BulkState: Sendable {
    /// One loop for the server, one for the client: the two ends run in parallel, each on a
    /// core of its own (with one group of 2 loops the kernel's `SO_REUSEPORT` choice put the
    /// server's connection on the client's loop in about half the runs).
    var groups: [EventLoopGroup] = []
    var server: ListeningServer?
    var client: (any Channel, AckQueue)?
    var handshake: (group: EventLoopGroup, server: ListeningServer, clientContext: TLSContext)?
}

let bulk = LockedValue(BulkState())

let nioBulk = LockedValue<NIOBulkPair?>(nil)
let nioHandshakes = LockedValue<NIOHandshakes?>(nil)

/// The repository's `Fixtures/tls`.
let fixturesPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/tls").path

/// The benchmark's test identities, from the repository's Fixtures.
func contexts(resumingSessions: Bool = false) throws -> (server: TLSContext, client: TLSContext) {
    let fixtures = fixturesPath
    let server = try TLSContext(
        configuration: .server(
            certificateChain: .file(fixtures + "/server.pem"), privateKey: .file(fixtures + "/server.key")))
    var client = TLSConfiguration.client(trustRoots: .file(fixtures + "/ca.pem"))
    client.resumesSessions = resumingSessions
    return (server, try TLSContext(configuration: client))
}

func startBulk(useTLS: Bool) async throws {
    let serverGroup = try EventLoopGroup(loopCount: 1)
    let clientGroup = try EventLoopGroup(loopCount: 1)
    let (serverContext, clientContext) = try contexts()
    let server = try await ServerBootstrap(group: serverGroup)
        .childChannelInitializer { channel in
            if useTLS { try channel.pipeline.syncOperations.addHandler(try TLSHandler(context: serverContext)) }
            try channel.pipeline.syncOperations.addHandler(MebibyteAcknowledger())
        }
        .bind(host: "127.0.0.1", port: 0)
    let acks = AckQueue()
    let loop = clientGroup.next()
    let client = try await ClientBootstrap(loop: loop)
        .channelInitializer { channel in
            if useTLS {
                try channel.pipeline.syncOperations.addHandler(
                    try TLSHandler(context: clientContext, serverHostname: "localhost"))
            }
            try channel.pipeline.syncOperations.addHandler(AckReader(acks: acks))
        }
        .connect(to: server.localAddress).get()
    acks.loop = loop
    bulk.withLock {
        $0 = BulkState(
            groups: [serverGroup, clientGroup], server: server, client: (client, acks), handshake: $0.handshake)
    }
}

func stopBulk() async throws {
    let state = bulk.withLock { state in
        defer {
            state.client = nil
            state.server = nil
            state.groups = []
        }
        return state
    }
    try await state.client?.0.close().get()
    try await state.server?.close()
    for group in state.groups { try await group.shutdownGracefully() }
}

/// Sends one byte back per mebibyte received.
final class MebibyteAcknowledger: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var received = 0
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.received += self.unwrapInboundIn(data).readableBytes
        while self.received >= 1 << 20 {
            self.received -= 1 << 20
            context.writeAndFlush(PipelineMessage(ByteBuffer(bytes: [1])), promise: nil)
        }
    }
}

/// Promises for acknowledgements, in order.
final class AckQueue: @unchecked Sendable { // SAFETY: every access holds `lock`
    private let lock = Lock()
    private var waiting: [EventLoopPromise<Void>] = []
    private var early = 0
    var loop: (any EventLoop)?

    func next() -> EventLoopFuture<Void> {
        self.lock.withLock {
            guard let loop = self.loop else { preconditionFailure("no loop") }
            let promise = loop.makePromise(of: Void.self)
            if self.early > 0 {
                self.early -= 1
                promise.succeed(())
            } else {
                self.waiting.append(promise)
            }
            return promise.futureResult
        }
    }

    func acknowledge(_ count: Int) {
        self.lock.withLock {
            for _ in 0..<count {
                if self.waiting.isEmpty { self.early += 1 } else { self.waiting.removeFirst().succeed(()) }
            }
        }
    }
}

final class AckReader: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let acks: AckQueue
    init(acks: AckQueue) { self.acks = acks }
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.acks.acknowledge(self.unwrapInboundIn(data).readableBytes)
    }
}

final class HandshakeWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<Void>
    init(done: EventLoopPromise<Void>) { self.done = done }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSEvent { self.done.succeed(()) }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { self.done.fail(error) }
}
