/// A typed channel option.
///
/// ```swift
/// try await channel.setOption(.autoRead, value: false).get()
/// try await channel.setOption(.writeWatermarks, value: WriteWatermarks(low: 8192, high: 32768)).get()
/// ```
public struct ChannelOption<Value: Sendable>: Sendable, Hashable {
    let key: ChannelOptionKey
}

/// The option names, shared by every value type.
enum ChannelOptionKey: Hashable, Sendable {
    case autoRead, allowRemoteHalfClosure, writeWatermarks, maxMessagesPerRead
    case tcpNoDelay, keepAlive, reuseAddress, reusePort, lingerSeconds, receiveBufferSize, sendBufferSize
    case tcpKeepAlive, tcpUserTimeout, tcpNotSentLowWatermark
    case ipTypeOfService, datagramReceiveSize, datagramStatistics
    case datagramSegmentSize, datagramReceiveOffload, datagramSegmentsInUserSpace
}

extension ChannelOption where Value == Bool {
    /// Read whenever data arrives (default true). Off: read only after `channel.read()`.
    public static var autoRead: Self { Self(key: .autoRead) }
    /// Report the peer's half-close as `ChannelEvent.inputClosed` instead of closing (default false).
    public static var allowRemoteHalfClosure: Self { Self(key: .allowRemoteHalfClosure) }
    /// `TCP_NODELAY` (default true: this library batches writes itself).
    public static var tcpNoDelay: Self { Self(key: .tcpNoDelay) }
    /// `SO_KEEPALIVE` with the kernel's timings (see `tcpKeepAlive` to set them).
    public static var keepAlive: Self { Self(key: .keepAlive) }
    /// `SO_REUSEADDR` (listeners set it by default).
    public static var reuseAddress: Self { Self(key: .reuseAddress) }
    /// `SO_REUSEPORT`.
    public static var reusePort: Self { Self(key: .reusePort) }
}

extension ChannelOption where Value == WriteWatermarks {
    /// When buffered outbound bytes pass `high`, the channel becomes unwritable; below `low`
    /// writable again (`channelWritabilityChanged`).
    public static var writeWatermarks: Self { Self(key: .writeWatermarks) }
}

extension ChannelOption where Value == Int {
    /// How many reads one readiness event may do before yielding to other channels (default 4).
    public static var maxMessagesPerRead: Self { Self(key: .maxMessagesPerRead) }
    /// `SO_LINGER` seconds; `0` makes close send a reset. Negative turns lingering off (and
    /// reads back as -1).
    public static var lingerSeconds: Self { Self(key: .lingerSeconds) }
    /// `SO_RCVBUF` (the kernel doubles what is set, and reads back the doubled size).
    public static var receiveBufferSize: Self { Self(key: .receiveBufferSize) }
    /// `SO_SNDBUF` (the kernel doubles what is set, and reads back the doubled size).
    public static var sendBufferSize: Self { Self(key: .sendBufferSize) }
}

extension ChannelOption where Value == TCPKeepAlive {
    /// TCP keep-alive with its timings (`SO_KEEPALIVE` on, `TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
    /// `TCP_KEEPCNT`): a peer that vanished without a word is noticed after
    /// `idle + interval × count` of silence, and so are NAT and firewall entries kept alive.
    public static var tcpKeepAlive: Self { Self(key: .tcpKeepAlive) }
}

extension ChannelOption where Value == TimeAmount {
    /// `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged before the kernel drops
    /// the connection (rounded up to milliseconds; zero: the kernel's default, about 15
    /// minutes of retransmissions). Bounds the wait on a peer that vanished mid-request.
    public static var tcpUserTimeout: Self { Self(key: .tcpUserTimeout) }
}

extension ChannelOption where Value == Int {
    /// `TCP_NOTSENT_LOWAT`: the socket reports writable only while fewer unsent bytes than
    /// this wait in the kernel, so data waits in the channel (where it can still be
    /// coalesced or dropped) rather than in a deep kernel queue.
    public static var tcpNotSentLowWatermark: Self { Self(key: .tcpNotSentLowWatermark) }
}

extension ChannelOption where Value == Int {
    /// The IP header's type-of-service byte (`IP_TOS`; `IPV6_TCLASS` on an IPv6 socket):
    /// DSCP and ECN bits, e.g. `0x10` for low delay. TCP and datagram channels.
    public static var ipTypeOfService: Self { Self(key: .ipTypeOfService) }
    /// The room for one datagram in a datagram channel's reads (default 2,048 bytes; 1...65,535).
    /// A longer datagram arrives cut, as an `AddressedEnvelope` whose `isTruncated` is true.
    /// A size outside the range fails with `ChannelError.invalidArgument`.
    public static var datagramReceiveSize: Self { Self(key: .datagramReceiveSize) }
}

extension ChannelOption where Value == Int {
    /// UDP segmentation offload (`UDP_SEGMENT`, Linux 4.18+) for a datagram channel: a written
    /// payload longer than this many bytes leaves as datagrams of this size (the last may be
    /// shorter), cut by the kernel — or the network card — after one pass through the stack:
    /// many equal datagrams to one peer for about the cost of one. 0 (the default) is off.
    /// A kernel without it is detected when the option is set, and the channel then cuts the
    /// payload itself (the same datagrams, one `sendmmsg` entry each). A payload's datagrams
    /// share one write promise; at most 64 of them (65,507 bytes) per write. A size outside
    /// 0...65,507 fails with `ChannelError.invalidArgument`.
    public static var datagramSegmentSize: Self { Self(key: .datagramSegmentSize) }
}

extension ChannelOption where Value == Bool {
    /// UDP receive offload (`UDP_GRO`) for a datagram channel: the kernel may hand several
    /// datagrams of one flow over as one buffer, which the channel cuts back into the same
    /// envelopes it would have read one by one. Reads then take up to 65,535 bytes per
    /// message. Default off.
    public static var datagramReceiveOffload: Self { Self(key: .datagramReceiveOffload) }
    /// Tests only: cut `datagramSegmentSize` payloads in the channel, as on a kernel without
    /// segmentation offload.
    package static var datagramSegmentsInUserSpace: Self { Self(key: .datagramSegmentsInUserSpace) }
}

extension ChannelOption where Value == DatagramStatistics {
    /// What a datagram channel's system calls moved so far (read only): shows how well
    /// `recvmmsg` and `sendmmsg` batch under the load at hand.
    public static var datagramStatistics: Self { Self(key: .datagramStatistics) }
}

/// TCP keep-alive timings.
///
/// Thread-safe (a value).
///
/// ```swift
/// ClientBootstrap(group: group).channelOption(.tcpKeepAlive, value: TCPKeepAlive(idle: .seconds(30), interval: .seconds(5), count: 3))
/// ```
public struct TCPKeepAlive: Sendable, Hashable {
    /// Silence before the first probe (whole seconds, at least 1).
    public var idle: TimeAmount
    /// Time between unanswered probes (whole seconds, at least 1).
    public var interval: TimeAmount
    /// Unanswered probes after which the connection is dropped.
    public var count: Int

    public init(idle: TimeAmount = .seconds(60), interval: TimeAmount = .seconds(10), count: Int = 6) {
        self.idle = idle
        self.interval = interval
        self.count = count
    }
}

/// The outbound buffer limits that drive writability.
public struct WriteWatermarks: Sendable, Hashable {
    public let low: Int
    public let high: Int

    /// - Precondition: `0 <= low <= high`.
    public init(low: Int, high: Int) {
        precondition(low >= 0 && low <= high, "watermarks need 0 <= low <= high") // SAFETY: caller's configuration
        self.low = low
        self.high = high
    }

    public static let `default` = WriteWatermarks(low: 32 * 1024, high: 64 * 1024)
}

/// Inbound user events the channel itself fires.
public enum ChannelEvent: Sendable, Equatable {
    /// The peer shut down its output; we will read nothing more (with `allowRemoteHalfClosure`).
    case inputClosed
    /// Our output was shut down (`close(mode: .output)` completed).
    case outputClosed
}
