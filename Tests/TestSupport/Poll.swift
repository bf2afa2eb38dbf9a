import Channels

/// Polls `condition` every `interval` until it holds or `seconds` have passed; returns
/// whether it held. For tests that wait on another task's progress: bounded in time.
@discardableResult
public func poll(
    upTo seconds: Int64 = 60, every interval: Duration = .milliseconds(2), until condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = Deadline.now() + .seconds(seconds)
    while try await !condition() {
        if Deadline.now() > deadline { return false }
        try await Task.sleep(for: interval)
    }
    return true
}
