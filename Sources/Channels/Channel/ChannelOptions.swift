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
}

extension ChannelOption where Value == Bool {
    /// Read whenever data arrives (default true). Off: read only after `channel.read()`.
    public static var autoRead: Self { Self(key: .autoRead) }
    /// Report the peer's half-close as `ChannelEvent.inputClosed` instead of closing (default false).
    public static var allowRemoteHalfClosure: Self { Self(key: .allowRemoteHalfClosure) }
    /// `TCP_NODELAY` (default true: this library batches writes itself).
    public static var tcpNoDelay: Self { Self(key: .tcpNoDelay) }
    /// `SO_KEEPALIVE`.
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
    /// `SO_LINGER` seconds; `0` makes close send a reset. Negative turns lingering off.
    public static var lingerSeconds: Self { Self(key: .lingerSeconds) }
    /// `SO_RCVBUF`.
    public static var receiveBufferSize: Self { Self(key: .receiveBufferSize) }
    /// `SO_SNDBUF`.
    public static var sendBufferSize: Self { Self(key: .sendBufferSize) }
}

/// The outbound buffer limits that drive writability.
public struct WriteWatermarks: Sendable, Hashable {
    public let low: Int
    public let high: Int

    /// - Precondition: `0 <= low <= high`.
    public init(low: Int, high: Int) {
        precondition(low >= 0 && low <= high, "watermarks need 0 <= low <= high")  // SAFETY: caller's configuration
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
