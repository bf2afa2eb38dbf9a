public import Channels

/// Collects every byte read and completes `done` once `expected` bytes arrived (or fails it
/// with the first error, or when the channel closes early).
///
/// Loop-confined.
public final class ByteCollector: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer

    public private(set) var received: [UInt8] = []
    public private(set) var errors: [any Error] = []
    private let expected: Int
    private let done: EventLoopPromise<[UInt8]>

    public init(expected: Int, done: EventLoopPromise<[UInt8]>) {
        self.expected = expected
        self.done = done
        self.received.reserveCapacity(expected)
    }

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        let buffer = self.unwrapInboundIn(data)
        buffer.withUnsafeReadableBytes { self.received.append(contentsOf: $0) }
        if self.received.count >= self.expected {
            self.done.succeed(self.received)
        }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.errors.append(error)
        self.done.fail(error)
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.done.fail(
            ChannelError(.ioOnClosedChannel, "closed after \(self.received.count) of \(self.expected) bytes"))
    }
}

/// A small deterministic random generator, so a failing test can be replayed.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { self.state = seed }
    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `count` pseudo-random bytes from `seed`.
public func randomBytes(count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    var bytes = [UInt8](repeating: 0, count: count)
    var index = 0
    while index < count {
        var word = generator.next()
        for _ in 0..<8 where index < count {
            bytes[index] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            index += 1
        }
    }
    return bytes
}
