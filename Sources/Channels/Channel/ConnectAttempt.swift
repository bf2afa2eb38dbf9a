/// A client channel's connect under way: its promise and its timeout.
///
/// Loop-confined, like the channel that holds it.
final class ConnectAttempt {
    let promise: EventLoopPromise<Void>
    var timeout: Scheduled<Void>?

    init(promise: EventLoopPromise<Void>) {
        self.promise = promise
    }

    func cancelTimeout() {
        self.timeout?.cancel()
        self.timeout = nil
    }
}
