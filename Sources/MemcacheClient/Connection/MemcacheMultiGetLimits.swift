/// How a pool cuts a long multi-get (`getMany`): at most `maximumKeys` keys a request, at most
/// `maximumInFlight` such requests at once (Thanos's `max_get_multi_batch_size` and
/// `max_get_multi_concurrency`). A server set applies them per server.
///
/// Thread-safe (a value). memcached answers a multi-get on one worker thread, all of it before
/// that connection's next request: 100,000 keys in one request stall everyone behind it.
///
/// ```swift
/// var configuration = MemcachePool.Configuration(host: "10.0.0.1")
/// configuration.multiGet = MemcacheMultiGetLimits(maximumKeys: 500, maximumInFlight: 2)
/// ```
public struct MemcacheMultiGetLimits: Sendable, Equatable {
    public var maximumKeys: Int
    public var maximumInFlight: Int

    public init(maximumKeys: Int = 1_000, maximumInFlight: Int = 4) {
        self.maximumKeys = max(1, maximumKeys)
        self.maximumInFlight = max(1, maximumInFlight)
    }
}
