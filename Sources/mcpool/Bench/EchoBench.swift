import ArgumentParser
import Channels

struct EchoBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "echo-bench",
        abstract: "Start a multi-loop echo server on loopback and measure it with pipelined clients.",
        discussion: "Both ends use this library. Every byte is checked: a wrong echo counts as an error."
    )

    @Option(help: "Event loops (threads), shared by server and clients.") var loops = 2
    @Option(help: "Client connections.") var connections = 32
    @Option(help: "Bytes per message.") var messageSize = 64
    @Option(help: "Messages in flight per connection.") var depth = 16
    @Option(help: "Seconds to run.") var duration = 5.0
    @Flag(help: "Serve with the async API (a task per connection on its loop) instead of a pipeline handler.")
    var asyncServer = false

    func validate() throws {
        try OptionBounds.check(self.loops, "--loops", in: OptionBounds.loops)
        try OptionBounds.check(self.connections, "--connections", in: OptionBounds.connections)
        try OptionBounds.check(self.messageSize, "--message-size", in: OptionBounds.messageBytes)
        try OptionBounds.check(self.depth, "--depth", in: OptionBounds.pipelineDepth)
        guard self.duration > 0 else { throw ValidationError("--duration must be positive") }
    }

    func run() async throws {
        let group = try EventLoopGroup(loopCount: self.loops)
        let server: ListeningServer
        let asyncServing: Task<Void, any Error>?
        if self.asyncServer {
            let asyncServer = try await AsyncEcho.bind(group: group, host: "127.0.0.1", port: 0)
            server = asyncServer.listeningServer
            asyncServing = Task { try await AsyncEcho.serve(asyncServer) }
        } else {
            server = try await ServerBootstrap(group: group)
                .childChannelInitializer { channel in try channel.pipeline.syncOperations.addHandler(Echo()) }
                .bind(host: "127.0.0.1", port: 0)
            asyncServing = nil
        }
        let stats = LockedValue(EchoStats())
        var clients: [any Channel] = []
        let message = ByteBuffer(bytes: (0..<self.messageSize).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
        for _ in 0..<self.connections {
            let depth = self.depth
            let channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    try channel.pipeline.syncOperations.addHandler(
                        PingPongClient(message: message, depth: depth, stats: stats))
                }
                .connect(to: server.localAddress).get()
            clients.append(channel)
        }
        let start = Deadline.now()
        try await Task.sleep(for: .nanoseconds(TimeAmount(seconds: self.duration).nanoseconds))
        let elapsed = Double((Deadline.now() - start).nanoseconds) / 1e9
        let result = stats.withLock { $0 }
        for client in clients { try? await client.close().get() }
        try await server.close()
        asyncServing?.cancel()
        _ = await asyncServing?.result
        try await group.shutdownGracefully()
        let rate = Double(result.messages) / elapsed
        print(
            """
            echo-bench: \(self.connections) connections, \(self.loops) loops, \(self.messageSize) B messages, depth \(self.depth)
              messages/s   \(Int(rate))
              MB/s         \(oneDecimal(rate * Double(self.messageSize) / 1e6))
              errors       \(result.errors)
            """)
        if result.errors > 0 { throw ExitCode.failure }
    }
}

struct EchoStats: Sendable {
    var messages = 0
    var errors = 0
}

/// Keeps `depth` messages in flight and checks every echoed byte.
final class PingPongClient: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let message: ByteBuffer
    private let depth: Int
    private let stats: LockedValue<EchoStats>
    private var received = ByteBuffer()
    private var completed = 0

    init(message: ByteBuffer, depth: Int, stats: LockedValue<EchoStats>) {
        self.message = message
        self.depth = depth
        self.stats = stats
    }

    func channelActive(context: ChannelHandlerContext) {
        for _ in 0..<self.depth { context.write(PipelineMessage(self.message), promise: nil) }
        context.flush()
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        var buffer = self.unwrapInboundIn(data)
        self.received.writeBuffer(&buffer)
        let size = self.message.readableBytes
        var finished = 0
        while let echoed = self.received.readSlice(length: size) {
            if echoed != self.message {
                self.stats.withLock { $0.errors += 1 }
            }
            finished += 1
            context.write(PipelineMessage(self.message), promise: nil)
        }
        self.received.discardReadBytes()
        self.completed += finished
        // Report in batches: one lock per read burst, not per message.
        if self.completed >= 1024 {
            let count = self.completed
            self.completed = 0
            self.stats.withLock { $0.messages += count }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}

func oneDecimal(_ value: Double) -> String {
    "\((value * 10).rounded() / 10)"
}

func twoDecimals(_ value: Double) -> String {
    "\((value * 100).rounded() / 100)"
}
