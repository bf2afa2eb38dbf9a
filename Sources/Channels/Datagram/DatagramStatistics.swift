/// What a datagram channel's system calls moved, counted since it opened.
///
/// Thread-safe (a value). Read it with `channel.getOption(.datagramStatistics)`: datagrams
/// per call above 1 are `recvmmsg`/`sendmmsg` batching several datagrams into one call.
///
/// ```swift
/// let statistics = try await channel.getOption(.datagramStatistics).get()
/// print(Double(statistics.datagramsReceived) / Double(statistics.receiveCalls))
/// ```
public struct DatagramStatistics: Sendable, Hashable {
    /// `recvmmsg` calls that returned at least one datagram.
    public var receiveCalls = 0
    /// Datagrams those calls returned.
    public var datagramsReceived = 0
    /// Datagrams that arrived cut (`AddressedEnvelope.isTruncated`).
    public var datagramsTruncated = 0
    /// `sendmmsg` calls that sent at least one datagram.
    public var sendCalls = 0
    /// Datagrams those calls sent (a payload the kernel segments counts once).
    public var datagramsSent = 0
    /// Datagrams the kernel refused (each failed its write's promise).
    public var datagramsFailed = 0
    /// Buffers the kernel joined from several datagrams (`datagramReceiveOffload`) that the
    /// channel cut back into them (those datagrams count in `datagramsReceived`).
    public var coalescedReceives = 0

    public init() {}
}
