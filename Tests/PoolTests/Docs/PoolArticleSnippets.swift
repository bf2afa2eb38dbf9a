// swift-format-ignore-file
// (Documentation snippets keep their hand layout, aligned comments included:
// DocumentationSnippetTests compares them with the articles line for line.)
import Channels
import Codecs
import Pool

// The Swift blocks of the Pool DocC articles (DocumentationSnippetTests checks they are these
// lines). The README's pooled-protocol test runs the line protocol; the rest name fixed
// ports or a service of the reader's, as a user's code would: compiled, not run.

// snippet: pool-line-connection
struct LineEncoder: MessageToByteEncoder {
    func encode(_ line: String, into buffer: inout ByteBuffer) throws {
        buffer.writeString(line)
        buffer.writeString("\n")
    }
}

final class LineConnection: PoolableConnection {
    typealias Handler = PipelinedClientHandler<LineEncoder, LineFrameDecoder>
    let channel: any Channel
    let handler: Handler
    init(channel: any Channel, handler: Handler) { (self.channel, self.handler) = (channel, handler) }

    func ask(_ line: String) async throws -> String { String(buffer: try await self.handler.send(line)) }

    /// Shared by many callers; when the last one leaves, nothing may still be waiting
    /// (a cancelled caller's reply): such a connection is replaced, not trusted.
    func isReusable(isLastLease: Bool) -> Bool { self.channel.isActive && (!isLastLease || self.handler.isClean) }
}
// end snippet

enum PoolArticleSnippets {
    static func linePool(group: EventLoopGroup) async throws {
        // snippet: pool-line-pool
        var configuration = ConnectionPoolConfiguration(maxConnections: 8)
        configuration.maxConcurrentLeasesPerConnection = 32   // callers share connections: pipelining
        let pool = ConnectionPool<LineConnection>(group: group, configuration: configuration) { [configuration] loop in
            let handler = LineConnection.Handler(encoder: LineEncoder(), decoder: LineFrameDecoder(maximumLength: 4096))
            return ClientBootstrap(loop: loop)
                .socketOptions(configuration.socketOptions)
                .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(handler) }
                .connect(host: "127.0.0.1", port: 7000)
                .map { LineConnection(channel: $0, handler: handler) }
        }
        let reply = try await pool.withConnection { connection in try await connection.ask("PING") }
        await pool.shutdown()
        // end snippet
        _ = reply
    }
}
