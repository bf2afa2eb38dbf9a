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

extension TLSConfiguration {
    /// This configuration with a handshake timeout no stall reaches: for tests whose
    /// handshakes queue behind hundreds of others, and that do not check the timeout.
    public var patient: TLSConfiguration {
        var configuration = self
        configuration.handshakeTimeout = testPatience
        return configuration
    }
}
