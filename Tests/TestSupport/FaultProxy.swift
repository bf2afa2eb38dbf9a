public import Channels

/// What `FaultProxy` does to the bytes it forwards; change it at any time.
public struct NetworkFaults: Sendable {
    /// Each chunk is held this long before it is forwarded…
    public var delay: TimeAmount = .zero
    /// …plus up to this much more, at random (the order of bytes is kept: TCP cannot reorder).
    public var jitter: TimeAmount = .zero
    /// Chunks are cut into pieces of 1 to this many bytes, each written on its own.
    public var maximumSegment: Int?
    /// Nothing is forwarded (both ways) while set; what arrives waits, in order.
    public var stalled = false

    public init() {}
}

/// A loopback TCP proxy in front of `target` that delays, jitters, cuts into small segments
/// or stalls what it forwards, for the network faults `netem` would give (this kernel has
/// none). Each accepted connection gets its own connection to the target, on the same loop.
///
/// Thread-safe.
public final class FaultProxy: Sendable {
    public let server: ListeningServer
    public let faults: LockedValue<NetworkFaults>
    public var port: Int { self.server.localAddress.port }

    private init(server: ListeningServer, faults: LockedValue<NetworkFaults>) {
        self.server = server
        self.faults = faults
    }

    public static func start(group: EventLoopGroup, target: SocketAddress) async throws -> FaultProxy {
        let faults = LockedValue(NetworkFaults())
        let server = try await ServerBootstrap(group: group)
            .acceptStrategy(.singleAcceptor)
            .childChannelInitializer { inbound in
                try inbound.pipeline.syncOperations.addHandler(ProxySide(faults: faults, target: target))
            }
            .bind(host: "127.0.0.1", port: 0)
        return FaultProxy(server: server, faults: faults)
    }

    public func close() async throws {
        try await self.server.close()
    }
}

/// One end of a proxied connection: forwards what it reads to its peer, through the faults.
/// Loop-confined; both ends of a connection live on one loop.
private final class ProxySide: ChannelInboundHandler, @unchecked Sendable { // SAFETY: used on its channel's loop only
    typealias InboundIn = ByteBuffer

    private let faults: LockedValue<NetworkFaults>
    private let target: SocketAddress?
    private var peer: (any Channel)?
    /// Bytes read before the peer was connected, or while stalled.
    private var waiting: [ByteBuffer] = []
    /// Pieces to write and when, in stream order.
    private var scheduled: [(due: Deadline, piece: ByteBuffer)] = []
    private var random = SplitMix64(seed: UInt64.random(in: 1...UInt64.max))
    private var timerArmed = false
    /// This side's channel closed: close the peer after the last scheduled write.
    private var closesPeerWhenWritten = false

    /// The accepting side (connects to `target` when active), or the target side (`target` nil).
    init(faults: LockedValue<NetworkFaults>, target: SocketAddress?) {
        self.faults = faults
        self.target = target
    }

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        guard let target = self.target else { return }
        let inbound = context.channel
        let other = ProxySide(faults: self.faults, target: nil)
        other.peer = inbound
        let connected = ClientBootstrap(loop: context.eventLoop)
            .channelInitializer { try $0.pipeline.syncOperations.addHandler(other) }
            .connect(to: target)
        connected.whenComplete { [self] result in
            switch result {
            case .success(let outbound):
                self.peer = outbound
                self.forwardWaiting(on: inbound.eventLoop)
            case .failure:
                _ = inbound.close()
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        guard let buffer = data.buffer else { return }
        self.waiting.append(buffer)
        self.forwardWaiting(on: context.eventLoop)
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The peer closes once what is scheduled has been written.
        self.closesPeerWhenWritten = true
        self.writeDue(on: context.eventLoop)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func forwardWaiting(on loop: any EventLoop) {
        guard self.peer != nil, !self.waiting.isEmpty else { return }
        let faults = self.faults.withLock { $0 }
        if faults.stalled {
            // Looked at again shortly: the stall may be lifted.
            self.armTimer(at: loop.now + .milliseconds(20), on: loop)
            return
        }
        let chunks = self.waiting
        self.waiting.removeAll()
        for var chunk in chunks {
            while chunk.readableBytes > 0 {
                let length =
                    faults.maximumSegment.map { 1 + Int(self.random.next() % UInt64(max(1, $0))) }
                    ?? chunk.readableBytes
                guard let piece = chunk.readSlice(length: min(length, chunk.readableBytes)) else { break }
                var wait = faults.delay
                if faults.jitter > .zero {
                    wait = wait + .nanoseconds(Int64(self.random.next() % UInt64(faults.jitter.nanoseconds)))
                }
                // Never before an earlier piece: the bytes of a stream keep their order.
                let due = max(loop.now + wait, self.scheduled.last?.due ?? .distantPast)
                self.scheduled.append((due, piece))
            }
        }
        self.writeDue(on: loop)
    }

    /// Writes, in order, every scheduled piece that is due; arms the timer for the next one.
    private func writeDue(on loop: any EventLoop) {
        guard let peer = self.peer else { return }
        while let first = self.scheduled.first, first.due <= loop.now {
            self.scheduled.removeFirst()
            peer.writeAndFlush(first.piece).whenFailure { _ in _ = peer.close() }
        }
        if let next = self.scheduled.first {
            self.armTimer(at: next.due, on: loop)
        } else if self.closesPeerWhenWritten, self.waiting.isEmpty {
            _ = peer.close()
        }
    }

    private func armTimer(at due: Deadline, on loop: any EventLoop) {
        guard !self.timerArmed else { return }
        self.timerArmed = true
        let side = UncheckedSide(side: self)
        loop.scheduleTask(deadline: due) {
            side.side.timerArmed = false
            side.side.writeDue(on: loop)
            side.side.forwardWaiting(on: loop)
        }
    }

    private struct UncheckedSide: @unchecked Sendable { // SAFETY: the task runs on the side's own loop
        let side: ProxySide
    }
}
