public import Channels
import Codecs

/// An HTTP/1.1 server that answers every `GET` or `HEAD` with a fixed body, written with the
/// library's async API: a task per connection, on the connection's loop.
///
/// Thread-safe. Keep-alive as each request asks; pipelined requests are answered in order
/// (their responses of one loop turn leave in one write); a request body is read and
/// dropped; what cannot be read as a request gets its `4xx`/`5xx` and the connection closes.
///
/// ```swift
/// let server = try await HelloServer.start(group: group, host: "127.0.0.1", port: 8080)
/// try await server.serve()          // until server.close()
/// ```
public struct HelloServer: Sendable {
    public let server: AsyncServer<HTTPServerInbound, ByteBuffer>
    public let body: ByteBuffer

    public var localAddress: SocketAddress { self.server.localAddress }

    public static func start(
        group: EventLoopGroup, host: String, port: Int, body: ByteBuffer = ByteBuffer(string: "Hello, World!")
    ) async throws -> HelloServer {
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(HTTPRequestDecoder()))
            }
            .bind(host: host, port: port, inbound: HTTPServerInbound.self, outbound: ByteBuffer.self)
        return HelloServer(server: server, body: body)
    }

    /// Serves until `close()`, then returns once the connections in flight are done.
    public func serve() async throws {
        let body = self.body
        try await self.server.serve { connection in
            var response = ByteBuffer()
            for try await inbound in connection.inbound {
                response.clear()
                switch inbound {
                case .request(let request):
                    let close = !request.keepAlive
                    switch request.method {
                    case "GET", "HEAD":
                        HTTPResponse.write(
                            status: 200, body: body, omitBody: request.method == "HEAD", close: close, into: &response)
                    default:
                        HTTPResponse.write(
                            status: 405, body: ByteBuffer(string: "GET or HEAD\n"), close: close, into: &response)
                    }
                    try await connection.outbound.write(response)
                    if close {
                        try await Self.closeAfterLastResponse(connection)
                        return
                    }
                case .malformed(let status, let reason):
                    HTTPResponse.write(
                        status: status, body: ByteBuffer(string: reason + "\n"), close: true, into: &response)
                    try await connection.outbound.write(response)
                    try await Self.closeAfterLastResponse(connection)
                    return
                }
            }
        }
    }

    /// The close after a response that said `Connection: close`: our side is shut down first
    /// (the response, then a FIN), and what the client still sends is read and dropped until it
    /// closes too, for at most `lingerTime`. Closing at once with unread requests in the socket
    /// would make the kernel send a reset, which can destroy the response before the client
    /// reads it (RFC 9112 section 9.6).
    static func closeAfterLastResponse(_ connection: AsyncChannel<HTTPServerInbound, ByteBuffer>) async throws {
        connection.outbound.finish()
        try await withThrowingTaskGroup(of: Void.self) { drain in
            drain.addTask {
                for try await _ in connection.inbound {}
            }
            drain.addTask {
                try await Task.sleep(for: Self.lingerTime)
            }
            try await drain.next()
            drain.cancelAll()
        }
    }

    /// How long a closing connection waits for its client to close.
    static let lingerTime = Duration.seconds(2)

    /// Stops accepting; `serve` returns when the open connections are done.
    public func close() async throws {
        try await self.server.close()
    }
}
