// A line protocol of the user's own, pooled: an echo server that upper-cases each line, and a
// pool of pipelined client connections to it. Prints "consumer-pool: ok" when 100 concurrent
// callers each get their own line back.
import Channels
import Codecs
import Pool

struct LineEncoder: MessageToByteEncoder {
    func encode(_ line: String, into buffer: inout ByteBuffer) throws {
        buffer.writeString(line)
        buffer.writeString("\n")
    }
}

/// The server side: each line back, upper-cased.
final class ShoutLines: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        var line = self.unwrapInboundIn(data)
        context.writeAndFlush(PipelineMessage(ByteBuffer(string: line.readString().uppercased() + "\n")), promise: nil)
    }
}

final class LineConnection: PoolableConnection {
    typealias Handler = PipelinedClientHandler<LineEncoder, LineFrameDecoder>
    let channel: any Channel
    let handler: Handler
    init(channel: any Channel, handler: Handler) { (self.channel, self.handler) = (channel, handler) }

    func ask(_ line: String) async throws -> String { String(buffer: try await self.handler.send(line)) }

    func isReusable(isLastLease: Bool) -> Bool { self.channel.isActive && (!isLastLease || self.handler.isClean) }
}

let group = try EventLoopGroup(loopCount: 2)
let server = try await ServerBootstrap(group: group)
    .childChannelInitializer { channel in
        try channel.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(LineFrameDecoder(maximumLength: 1024)), ShoutLines())
    }
    .bind(host: "127.0.0.1", port: 0)
let port = server.localAddress.port

var configuration = ConnectionPoolConfiguration(maxConnections: 4)
configuration.maxConcurrentLeasesPerConnection = 32
let pool = ConnectionPool<LineConnection>(group: group, configuration: configuration) { loop in
    let handler = LineConnection.Handler(encoder: LineEncoder(), decoder: LineFrameDecoder(maximumLength: 1024))
    return ClientBootstrap(loop: loop)
        .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(handler) }
        .connect(host: "127.0.0.1", port: port)
        .map { LineConnection(channel: $0, handler: handler) }
}
let wrong = try await withThrowingTaskGroup(of: Bool.self) { tasks in
    for index in 0..<100 {
        tasks.addTask { try await pool.withConnection { try await $0.ask("line \(index)") } != "LINE \(index)" }
    }
    var wrong = 0
    for try await isWrong in tasks where isWrong { wrong += 1 }
    return wrong
}
await pool.shutdown()
try await server.close()
try await group.shutdownGracefully()
print(wrong == 0 ? "consumer-pool: ok" : "consumer-pool: \(wrong) wrong replies")
