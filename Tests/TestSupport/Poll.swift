public import Channels

/// Polls `condition` every `interval` until it holds or `seconds` have passed; returns
/// whether it held. For tests that wait on another task's progress: bounded in time, but
/// generously (`testPatience` by default): under a sanitizer on 2 cores, the heaviest tests have
/// stalled the others for over a minute.
@discardableResult
public func poll(
    upTo seconds: Int64 = testPatience.nanoseconds / 1_000_000_000, every interval: Duration = .milliseconds(2),
    until condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = Deadline.now() + .seconds(seconds)
    while try await !condition() {
        if Deadline.now() > deadline { return false }
        try await Task.sleep(for: interval)
    }
    return true
}
