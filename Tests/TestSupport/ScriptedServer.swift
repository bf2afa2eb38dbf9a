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
        /// Write these bytes once `gate` succeeds (a server slow on the test's cue).
        case replyAfter(EventLoopFuture<Void>, String)
    }

    public let server: ListeningServer
    /// Every line received, with its connection's number.
    public let lines: LockedValue<[(connection: Int, line: String)]>
    private let accepted: LockedValue<Int>
    private let ended: LockedValue<Int>

    public var port: Int { self.server.localAddress.port }
    /// How many connections were accepted.
    public var connections: Int { self.accepted.withLock { $0 } }
    /// How many accepted connections have closed. A connection closes after the server read
    /// its last byte, so once every accepted one has closed, `lines` holds all that was sent.
    public var closedConnections: Int { self.ended.withLock { $0 } }

    private init(
        server: ListeningServer, lines: LockedValue<[(connection: Int, line: String)]>, accepted: LockedValue<Int>,
        ended: LockedValue<Int>
    ) {
        self.server = server
        self.lines = lines
        self.accepted = accepted
        self.ended = ended
    }

    /// Waits (up to `testPatience`) until every accepted connection has closed; returns whether
    /// they all did. Call it after the client closed its side, before reading `lines`.
    @discardableResult
    public func allConnectionsClosed() async throws -> Bool {
        try await poll { self.closedConnections == self.connections }
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
        let ended = LockedValue(0)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                let number = accepted.withLock { count in
                    defer { count += 1 }
                    return count
                }
                try channel.pipeline.syncOperations.addHandlers(
                    ByteToMessageHandler(LineFrameDecoder(maximumLength: 64 << 10)),
                    ScriptedLineHandler(connection: number, script: script, log: lines, ended: ended))
            }
            .bind(host: "127.0.0.1", port: 0)
        return ScriptedServer(server: server, lines: lines, accepted: accepted, ended: ended)
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
    let ended: LockedValue<Int>

    init(
        connection: Int, script: @escaping @Sendable (Int, String) -> ScriptedServer.Step,
        log: LockedValue<[(connection: Int, line: String)]>, ended: LockedValue<Int>
    ) {
        self.connection = connection
        self.script = script
        self.log = log
        self.ended = ended
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.ended.withLock { $0 += 1 }
        context.fireChannelInactive()
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
        case .replyAfter(let gate, let text):
            let channel = context.channel
            gate.whenSuccess { _ = channel.writeAndFlush(ByteBuffer(string: text)) }
        }
    }
}
