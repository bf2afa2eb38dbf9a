public import Channels
import Glibc

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

/// `count` pseudo-random bytes from `seed` (each generated word's bytes, low byte first).
///
/// Written a word at a time through a pointer: a byte-by-byte loop in a debug build under
/// ThreadSanitizer cost seconds per MiB, and the echo tests' 400 MiB of it held the
/// concurrency pool's threads (and with them every other test) for minutes.
public func randomBytes(count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        let raw = UnsafeMutableRawBufferPointer(buffer)
        var index = 0
        while index + 8 <= count {
            raw.storeBytes(of: generator.next().littleEndian, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        var word = generator.next()
        while index < count {
            raw[index] = UInt8(truncatingIfNeeded: word)
            word >>= 8
            index += 1
        }
        initialized = count
    }
}

/// `bytes` rotated left by `shift` (two `memcpy`s): distinct payloads for many clients from
/// one `randomBytes` call, which costs far more per byte in a debug build under a sanitizer.
public func rotated(_ bytes: [UInt8], by shift: Int) -> [UInt8] {
    guard !bytes.isEmpty else { return bytes }
    let shift = shift % bytes.count
    return [UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, initialized in
        bytes.withUnsafeBytes { source in
            let target = UnsafeMutableRawPointer(buffer.baseAddress!)
            memcpy(target, source.baseAddress! + shift, bytes.count - shift)
            memcpy(target + (bytes.count - shift), source.baseAddress!, shift)
        }
        initialized = bytes.count
    }
}

/// Whether `a` and `b` hold the same bytes: one `memcmp`, where `==` on arrays compares
/// element by element in a debug build (seconds per MiB under ThreadSanitizer).
public func sameBytes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    guard !a.isEmpty else { return true }
    return a.withUnsafeBytes { a in b.withUnsafeBytes { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 } }
}
