// The SwiftNIO peer of Examples/HTTPServer: NIOHTTP1's server pipeline and a handler that
// answers every request with "Hello, World!" (keep-alive as the request asks), the shape of
// SwiftNIO's own HTTP/1 examples. NIOHTTPHello [PORT] [LOOPS]
import NIOCore
import NIOHTTP1
import NIOPosix

final class HelloHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let body = ByteBuffer(string: "Hello, World!")

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let request) = self.unwrapInboundIn(data) else { return }
        let keepAlive = request.isKeepAlive
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "Content-Length", value: "\(Self.body.readableBytes)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(
            self.wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
            promise: nil)
        if request.method != .HEAD { context.write(self.wrapOutboundOut(.body(.byteBuffer(Self.body))), promise: nil) }
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(self.wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { loopBound.value.close(promise: nil) }
        }
    }
}

let arguments = CommandLine.arguments
let port = arguments.count > 1 ? Int(arguments[1]) ?? 8081 : 8081
let loops = arguments.count > 2 ? Int(arguments[2]) ?? 2 : 2
let group = MultiThreadedEventLoopGroup(numberOfThreads: loops)
let channel = try await ServerBootstrap(group: group)
    .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
            channel.pipeline.addHandler(HelloHandler())
        }
    }
    .bind(host: "127.0.0.1", port: port).get()
print("NIOHTTPHello on \(channel.localAddress.map { "\($0)" } ?? "?") with \(loops) loops")
try await channel.closeFuture.get()
