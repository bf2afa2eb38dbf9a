import Glibc
import NIOCore
import NIOPosix

/// A load client written with SwiftNIO, as an application would write one: one event loop,
/// SwiftNIO's adaptive read sizes and its gathering writes. The raw clients read exactly the
/// bytes they expect (`MSG_WAITALL`) and so hide how a server sizes its reads and its writes;
/// through this client those show.
///
/// Each connection echoes its share of `messagesPerRound` messages per round with at most
/// `depth` in flight (depth 1: ping-pong); every byte that comes back is checked.
final class NIOEchoClient: EchoLoad, @unchecked Sendable {
    // SAFETY: used by one benchmark thread at a time; the handlers are confined to `loop`.

    private let group: MultiThreadedEventLoopGroup
    private let loop: any EventLoop
    private let channels: [any Channel]
    private let handlers: [NIOEchoLoadHandler]

    init(port: Int, connections: Int, messageSize: Int, depth: Int, messagesPerRound: Int) {
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.loop = self.group.next()
        var pattern = ByteBufferAllocator().buffer(capacity: messageSize)
        for index in 0..<messageSize { pattern.writeInteger(UInt8(truncatingIfNeeded: index &* 31 &+ 7)) }
        var channels: [any Channel] = []
        var handlers: [NIOEchoLoadHandler] = []
        for index in 0..<connections {
            // The round's messages shared out: the first connections take one more.
            let share = messagesPerRound / connections + (index < messagesPerRound % connections ? 1 : 0)
            let handler = NIOEchoLoadHandler(message: pattern, depth: depth, messagesPerRound: share)
            let channel = try! ClientBootstrap(group: self.loop)
                .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
                }
                .connect(host: "127.0.0.1", port: port).wait()
            channels.append(channel)
            handlers.append(handler)
        }
        self.channels = channels
        self.handlers = handlers
    }

    deinit {
        for channel in self.channels { try? channel.close().wait() }
        try? self.group.syncShutdownGracefully()
    }

    /// One round on every connection at once; false if an echo differed from what was sent.
    func round() -> Bool {
        let handlers = self.handlers
        let loop = self.loop
        let rounds = loop.flatSubmit {
            EventLoopFuture.whenAllSucceed(handlers.map { $0.startRound() }, on: loop)
        }
        guard let intact = try? rounds.wait() else { return false }
        return intact.allSatisfy { $0 }
    }
}

/// One connection's side of `NIOEchoClient`: writes as echoes come back, checks the bytes.
final class NIOEchoLoadHandler: ChannelInboundHandler, @unchecked Sendable {
    // SAFETY: confined to its channel's loop.
    typealias InboundIn = NIOCore.ByteBuffer
    typealias OutboundOut = NIOCore.ByteBuffer

    private let message: NIOCore.ByteBuffer
    private let depth: Int
    private let messagesPerRound: Int
    private var context: ChannelHandlerContext?
    private var sent = 0
    /// Bytes echoed this round; `% message.readableBytes` is where the next byte falls.
    private var received = 0
    private var intact = true
    private var roundDone: EventLoopPromise<Bool>?

    init(message: NIOCore.ByteBuffer, depth: Int, messagesPerRound: Int) {
        self.message = message
        self.depth = depth
        self.messagesPerRound = messagesPerRound
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// On the loop: starts a round; the future says whether every byte came back intact.
    func startRound() -> EventLoopFuture<Bool> {
        guard let context = self.context else { preconditionFailure("benchmark client connection is gone") }
        let done = context.eventLoop.makePromise(of: Bool.self)
        (self.sent, self.received, self.intact, self.roundDone) = (0, 0, true, done)
        if self.messagesPerRound == 0 {
            done.succeed(true)
        } else {
            self.writeWhileRoom(context: context)
            context.flush()
        }
        return done.futureResult
    }

    private func writeWhileRoom(context: ChannelHandlerContext) {
        let echoed = self.received / self.message.readableBytes
        while self.sent < self.messagesPerRound, self.sent - echoed < self.depth {
            context.write(self.wrapOutboundOut(self.message), promise: nil)
            self.sent += 1
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = self.unwrapInboundIn(data)
        let size = self.message.readableBytes
        bytes.withUnsafeReadableBytes { incoming in
            self.message.withUnsafeReadableBytes { pattern in
                var offset = 0
                while offset < incoming.count {
                    let at = (self.received + offset) % size
                    let count = min(size - at, incoming.count - offset)
                    if memcmp(incoming.baseAddress! + offset, pattern.baseAddress! + at, count) != 0 {
                        self.intact = false
                    }
                    offset += count
                }
            }
        }
        self.received += bytes.readableBytes
        self.writeWhileRoom(context: context)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
        if self.received >= self.messagesPerRound * self.message.readableBytes, let done = self.roundDone {
            self.roundDone = nil
            done.succeed(self.intact && self.received == self.messagesPerRound * self.message.readableBytes)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.roundDone?.fail(NIOCore.ChannelError.ioOnClosedChannel)
        self.roundDone = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.roundDone?.fail(error)
        self.roundDone = nil
        context.close(promise: nil)
    }
}
