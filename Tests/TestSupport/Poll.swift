public import Channels

/// How long a test lets a wait run that is not what it checks (response and lease timeouts,
/// safety closes): far beyond a stall, since under a sanitizer on 2 cores the heaviest tests
/// have stalled the others for over a minute, and 5 s timeouts failed CI runs.
public let testPatience = TimeAmount.seconds(300)

/// Polls `condition` every `interval` until it holds or `seconds` have passed; returns
/// whether it held. For tests that wait on another task's progress: bounded in time, but
/// generously (`testPatience` by default): under a sanitizer on 2 cores, the heaviest tests have
/// stalled the others for over a minute.
@discardableResult
public func poll(
    upTo seconds: Int64 = testPatience.nanoseconds / 1_000_000_000, every interval: Duration = .milliseconds(2), until condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = Deadline.now() + .seconds(seconds)
    while try await !condition() {
        if Deadline.now() > deadline { return false }
        try await Task.sleep(for: interval)
    }
    return true
}

extension TLSContext {
    /// A context for tests: its handshakes wait up to `testPatience` unless the configuration
    /// sets a timeout of its own (a test of the timeout), since a sanitizer's stall outlasts
    /// the 10 s default.
    public static func patient(configuration: TLSConfiguration) throws -> TLSContext {
        var configuration = configuration
        if configuration.handshakeTimeout == TLSConfiguration(role: configuration.role).handshakeTimeout {
            configuration.handshakeTimeout = testPatience
        }
        return try TLSContext(configuration: configuration)
    }
}
