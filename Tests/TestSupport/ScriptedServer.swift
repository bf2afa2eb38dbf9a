public import Channels
import Codecs

/// A loopback server that answers each request line as a script says: for fault injection a
/// real server cannot do on demand (read a request and hang up, answer garbage).
///
/// Thread-safe. Connections are numbered from 0 in the order they are accepted; every line
/// received is logged with its connection's number.
public final class ScriptedServer: Sendable {
    /// What to do with one received line.
    public enum Step: Sendable {
        /// Nothing (a data block, say).
        case ignore
        /// Write these bytes.
        case reply(String)
        /// Close the connection without a word.
        case close
        /// Write these bytes, then close.
        case replyAndClose(String)
    }

    public let server: ListeningServer
    /// Every line received, with its connection's number.
    public let lines: LockedValue<[(connection: Int, line: String)]>
    private let accepted: LockedValue<Int>

    public var port: Int { self.server.localAddress.port }
    /// How many connections were accepted.
    public var connections: Int { self.accepted.withLock { $0 } }

    private init(server: ListeningServer, lines: LockedValue<[(connection: Int, line: String)]>, accepted: LockedValue<Int>) {
        self.server = server
        self.lines = lines
        self.accepted = accepted
    }

    /// Starts the server on 127.0.0.1 (free port); `script` decides, per line, on the loop.
    public static func start(
        group: EventLoopGroup,
        script: @escaping @Sendable (_ connection: Int, _ line: String) -> Step
    ) async throws -> ScriptedServer {
        // The initializer captures the log and the counter, not the server object: the
        // listener holds the initializer, and a server object held by it would be a cycle.
        let lines = LockedValue<[(connection: Int, line: String)]>([])
        let accepted = LockedValue(0)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                let number = accepted.withLock { count in
                    defer { count += 1 }
                    return count
                }
                try channel.pipeline.syncOperations.addHandlers(
                    ByteToMessageHandler(LineFrameDecoder(maximumLength: 64 << 10)),
                    ScriptedLineHandler(connection: number, script: script, log: lines))
            }
            .bind(host: "127.0.0.1", port: 0)
        return ScriptedServer(server: server, lines: lines, accepted: accepted)
    }

    public func close() async throws {
        try await self.server.close()
    }
}

/// Runs the script for each line of one connection.
private final class ScriptedLineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let connection: Int
    let script: @Sendable (Int, String) -> ScriptedServer.Step
    let log: LockedValue<[(connection: Int, line: String)]>

    init(connection: Int, script: @escaping @Sendable (Int, String) -> ScriptedServer.Step, log: LockedValue<[(connection: Int, line: String)]>) {
        self.connection = connection
        self.script = script
        self.log = log
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        let bytes = self.unwrapInboundIn(data)
        let line = bytes.getString(at: bytes.readerIndex, length: bytes.readableBytes) ?? ""
        self.log.withLock { $0.append((self.connection, line)) }
        switch self.script(self.connection, line) {
        case .ignore:
            break
        case .reply(let text):
            context.writeAndFlush(PipelineMessage(ByteBuffer(string: text)), promise: nil)
        case .close:
            context.close(promise: nil)
        case .replyAndClose(let text):
            context.writeAndFlush(PipelineMessage(ByteBuffer(string: text)), promise: nil)
            context.close(promise: nil)
        }
    }
}
