import Channels
import Codecs

/// Answers HTTP requests for one resource: `GET /metrics` (and `HEAD`) with the body
/// `render` makes, in the Prometheus text format; other paths 404, other methods 405, and a
/// request the decoder refused 400 followed by a close.
///
/// Loop-confined, one per connection, after a `ByteToMessageHandler(HTTPRequestHeadDecoder())`.
/// Keep-alive follows the request (`HTTPRequestHead.keepAlive`).
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPRequestHead

    private let render: @Sendable () -> [UInt8]
    private var closing = false

    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    init(render: @escaping @Sendable () -> [UInt8]) {
        self.render = render
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        guard !self.closing else { return }
        let head = self.unwrapInboundIn(data)
        let keepAlive = head.keepAlive
        switch (head.method, head.path) {
        case ("GET", "/metrics"), ("HEAD", "/metrics"):
            self.respond(
                200, "OK", body: self.render(), contentType: Self.contentType, omitBody: head.method == "HEAD",
                keepAlive: keepAlive, context: context)
        case (_, "/metrics"):
            self.respond(
                405, "Method Not Allowed", body: Array("only GET /metrics\n".utf8), extra: "Allow: GET, HEAD\r\n",
                keepAlive: keepAlive, context: context)
        default:
            self.respond(
                404, "Not Found", body: Array("only /metrics is served here\n".utf8), keepAlive: keepAlive,
                context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // The decoder gave up (garbage, a head too long, a body): say so, then the decoder's
        // handler closes the connection.
        guard !self.closing else { return }
        let reason = (error as? HTTPRequestError)?.reason ?? "bad request"
        self.respond(400, "Bad Request", body: Array("\(reason)\n".utf8), keepAlive: false, context: context)
    }

    private func respond(
        _ status: Int, _ phrase: String, body: [UInt8], contentType: String = "text/plain; charset=utf-8",
        extra: String = "",
        omitBody: Bool = false, keepAlive: Bool, context: ChannelHandlerContext
    ) {
        var response = ByteBuffer(capacity: body.count + 160)
        response.writeString(
            "HTTP/1.1 \(status) \(phrase)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n\(extra)")
        response.writeString(keepAlive ? "\r\n" : "Connection: close\r\n\r\n")
        if !omitBody { response.writeBytes(body) }
        context.writeAndFlush(PipelineMessage(response), promise: nil)
        if !keepAlive {
            self.closing = true
            context.close(promise: nil)
        }
    }
}
