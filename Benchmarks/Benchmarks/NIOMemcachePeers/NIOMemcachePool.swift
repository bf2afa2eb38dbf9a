public import NIOCore
public import NIOPosix
import Synchronization

// The SwiftNIO peer for the pool benchmark: a small meta-protocol memcache client and a
// per-loop pool with exclusive leases, written the way one would with SwiftNIO 2 (a
// sub-pool per loop, touched only on its loop; waiters queued per loop; callers spread
// round robin). Only what the benchmark needs: `mg <key> v` and `ms <key> <size>`.

/// One reply to `mg <key> v`: the value, or nil on a miss.
public struct NIOMetaReply: Sendable {
    public let value: NIOCore.ByteBuffer?
}

struct NIOMetaDecodeError: Error {}

/// Decodes `VA <length> ...\r\n<data>\r\n`, `EN\r\n` and `HD\r\n`.
struct NIOMetaDecoder: NIOCore.ByteToMessageDecoder {
    typealias InboundOut = NIOMetaReply

    mutating func decode(context: NIOCore.ChannelHandlerContext, buffer: inout NIOCore.ByteBuffer) throws
        -> NIOCore.DecodingState
    {
        guard let lineEnd = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else { return .needMoreData }
        let lineLength = lineEnd - buffer.readerIndex + 1
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self)
        else { return .needMoreData }
        // EN (a miss) and HD (stored, for `ms`) carry no value.
        if (first == UInt8(ascii: "E") && second == UInt8(ascii: "N"))
            || (first == UInt8(ascii: "H") && second == UInt8(ascii: "D"))
        {
            buffer.moveReaderIndex(forwardBy: lineLength)
            context.fireChannelRead(NIOAny(NIOMetaReply(value: nil)))
            return .continue
        }
        guard first == UInt8(ascii: "V"), second == UInt8(ascii: "A") else { throw NIOMetaDecodeError() }
        // "VA <length>": digits from offset 3 up to a space or CR.
        var length = 0
        var index = buffer.readerIndex + 3
        while let digit = buffer.getInteger(at: index, as: UInt8.self), digit >= 48, digit <= 57 {
            length = length * 10 + Int(digit - 48)
            index += 1
        }
        guard buffer.readableBytes >= lineLength + length + 2 else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: lineLength)
        let value = buffer.readSlice(length: length)
        buffer.moveReaderIndex(forwardBy: 2)
        context.fireChannelRead(NIOAny(NIOMetaReply(value: value)))
        return .continue
    }
}

/// Writes requests and completes their promises in order (pipelined).
final class NIOMetaClientHandler: NIOCore.ChannelDuplexHandler {
    typealias InboundIn = NIOMetaReply
    typealias OutboundIn = (NIOCore.ByteBuffer, NIOCore.EventLoopPromise<NIOMetaReply>)
    typealias OutboundOut = NIOCore.ByteBuffer

    private var waiting = NIOCore.CircularBuffer<NIOCore.EventLoopPromise<NIOMetaReply>>()

    func write(context: NIOCore.ChannelHandlerContext, data: NIOAny, promise: NIOCore.EventLoopPromise<Void>?) {
        let (request, replyPromise) = self.unwrapOutboundIn(data)
        self.waiting.append(replyPromise)
        context.write(self.wrapOutboundOut(request), promise: promise)
    }

    func channelRead(context: NIOCore.ChannelHandlerContext, data: NIOAny) {
        let reply = self.unwrapInboundIn(data)
        self.waiting.popFirst()?.succeed(reply)
    }

    func errorCaught(context: NIOCore.ChannelHandlerContext, error: any Error) {
        while let promise = self.waiting.popFirst() { promise.fail(error) }
        context.close(promise: nil)
    }

    func channelInactive(context: NIOCore.ChannelHandlerContext) {
        while let promise = self.waiting.popFirst() { promise.fail(NIOCore.ChannelError.ioOnClosedChannel) }
        context.fireChannelInactive()
    }
}

/// One loop's connections: idle stack, waiter queue, all touched on `loop` only.
public final class NIOLoopPool: @unchecked Sendable { // SAFETY: state only on `loop`
    let loop: any NIOCore.EventLoop
    private let maxConnections: Int
    private let connect: @Sendable (any NIOCore.EventLoop) -> NIOCore.EventLoopFuture<any NIOCore.Channel>
    private var idle: [any NIOCore.Channel] = []
    private var total = 0
    private var waiters = NIOCore.CircularBuffer<NIOCore.EventLoopPromise<any NIOCore.Channel>>()

    init(
        loop: any NIOCore.EventLoop, maxConnections: Int,
        connect: @escaping @Sendable (any NIOCore.EventLoop) -> NIOCore.EventLoopFuture<any NIOCore.Channel>
    ) {
        self.loop = loop
        self.maxConnections = maxConnections
        self.connect = connect
    }

    /// On the loop.
    func lease() -> NIOCore.EventLoopFuture<any NIOCore.Channel> {
        if let channel = self.idle.popLast() { return self.loop.makeSucceededFuture(channel) }
        let promise = self.loop.makePromise(of: (any NIOCore.Channel).self)
        self.waiters.append(promise)
        if self.total < self.maxConnections {
            self.total += 1
            self.connect(self.loop).whenComplete { result in
                switch result {
                case .success(let channel): self.release(channel)
                case .failure(let error):
                    self.total -= 1
                    self.waiters.popFirst()?.fail(error)
                }
            }
        }
        return promise.futureResult
    }

    /// On the loop.
    func release(_ channel: any NIOCore.Channel) {
        if let waiter = self.waiters.popFirst() {
            waiter.succeed(channel)
        } else {
            self.idle.append(channel)
        }
    }

    public func closeAll() -> NIOCore.EventLoopFuture<Void> {
        self.loop.flatSubmit {
            let channels = self.idle
            self.idle = []
            return .andAllComplete(channels.map { $0.close() }, on: self.loop)
        }
    }
}

/// The pool: one `NIOLoopPool` per loop, callers spread round robin.
public final class NIOMemcachePool: Sendable {
    public let pools: [NIOLoopPool]
    private let cursor = Atomic<Int>(0)

    public init(group: MultiThreadedEventLoopGroup, host: String, port: Int, maxConnections: Int) {
        let loops = Array(group.makeIterator())
        let perLoop = (maxConnections + loops.count - 1) / loops.count
        self.pools = loops.map { loop in
            NIOLoopPool(loop: loop, maxConnections: perLoop) { loop in
                NIOPosix.ClientBootstrap(group: loop)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                NIOCore.ByteToMessageHandler(NIOMetaDecoder()))
                            try channel.pipeline.syncOperations.addHandler(NIOMetaClientHandler())
                        }
                    }
                    .connect(host: host, port: port)
            }
        }
    }

    /// `mg <key> v` on an exclusively leased connection.
    public func get(_ key: String) async throws -> NIOCore.ByteBuffer? {
        let pool = self.pools[self.cursor.wrappingAdd(1, ordering: .relaxed).oldValue % self.pools.count]
        let channel = try await pool.loop.flatSubmit { pool.lease() }.get()
        let promise = channel.eventLoop.makePromise(of: NIOMetaReply.self)
        var request = channel.allocator.buffer(capacity: key.utf8.count + 8)
        request.writeString("mg ")
        request.writeString(key)
        request.writeString(" v\r\n")
        channel.writeAndFlush((request, promise), promise: nil)
        do {
            let reply = try await promise.futureResult.get()
            pool.loop.execute { pool.release(channel) }
            return reply.value
        } catch {
            pool.loop.execute { pool.release(channel) }
            throw error
        }
    }
}
