/// Connecting to a host name's addresses as RFC 8305 ("Happy Eyeballs v2") describes: the
/// addresses interleaved by family, starting with the family the resolver put first; the
/// next attempt starts when the previous one fails or after `attemptDelay` while it is still
/// pending; the first to connect wins and every other attempt is closed; one deadline bounds
/// the whole.
///
/// So an address that black-holes (a dead IPv6 route, a firewalled replica) costs
/// `attemptDelay`, not the whole connect timeout.
enum HappyEyeballs {
    /// The RFC's recommended delay between attempts.
    static let defaultAttemptDelay = TimeAmount.milliseconds(250)

    /// `addresses` interleaved by family (RFC 8305 section 4): first an address of the
    /// family the resolver listed first, then one of the other, and so on; within a family
    /// the resolver's order is kept.
    static func interleaved(_ addresses: [SocketAddress]) -> [SocketAddress] {
        guard let first = addresses.first else { return [] }
        let preferred = addresses.filter { $0.isIPv6 == first.isIPv6 }
        let other = addresses.filter { $0.isIPv6 != first.isIPv6 }
        var result: [SocketAddress] = []
        result.reserveCapacity(addresses.count)
        for index in 0..<max(preferred.count, other.count) {
            if index < preferred.count { result.append(preferred[index]) }
            if index < other.count { result.append(other[index]) }
        }
        return result
    }

    /// The error when no address connected: each address and why, in the order tried.
    static func failure(host: String, attempts: [(SocketAddress, any Error)]) -> ChannelError {
        let reasons = attempts.map { "\($0.0): \($0.1)" }.joined(separator: "; ")
        return ChannelError(.connectFailed, "no address of '\(host)' connected (\(reasons))", cause: attempts.last?.1)
    }
}

/// One Happy Eyeballs race on one loop.
///
/// Loop-confined: created, driven and completed on `loop` (every callback below runs there).
final class HappyEyeballsRace: @unchecked Sendable { // SAFETY: loop-confined, below
    // SAFETY: every field is touched only on `loop`: the race is made and run there, and its
    // timers and the attempts' futures call back there.
    /// Starts one connect attempt (on the loop) and returns its channel and its outcome.
    typealias Attempt = (SocketAddress) -> (channel: (any Channel)?, connected: EventLoopFuture<any Channel>)

    private let loop: any EventLoop
    private let host: String
    private let addresses: [SocketAddress]
    private let attemptDelay: TimeAmount
    private let attempt: Attempt
    private let promise: EventLoopPromise<any Channel>
    private var nextIndex = 0
    private var pending: [ObjectIdentifier: any Channel] = [:]
    private var pendingCount = 0
    private var failures: [(SocketAddress, any Error)] = []
    private var nextAttemptTimer: Scheduled<Void>?
    private var deadlineTimer: Scheduled<Void>?
    private var finished = false

    init(
        loop: any EventLoop, host: String, addresses: [SocketAddress], attemptDelay: TimeAmount, timeout: TimeAmount,
        attempt: @escaping Attempt
    ) {
        self.loop = loop
        self.host = host
        self.addresses = HappyEyeballs.interleaved(addresses)
        self.attemptDelay = attemptDelay
        self.attempt = attempt
        self.promise = loop.makePromise(of: (any Channel).self)
        self.deadlineTimer = loop.scheduleTask(in: timeout) { [self] in
            let tried = self.failures.map { "\($0.0): \($0.1)" }
            let reasons = tried.isEmpty ? "" : " (\(tried.joined(separator: "; ")))"
            self.finish(
                .failure(
                    ChannelError(.connectTimeout, "connect to '\(self.host)' timed out after \(timeout)\(reasons)")))
        }
    }

    /// Runs the race; the future holds the winning channel. Loop only.
    func run() -> EventLoopFuture<any Channel> {
        self.loop.assertInEventLoop()
        self.startNextAttempt()
        return self.promise.futureResult
    }

    private func startNextAttempt() {
        self.nextAttemptTimer?.cancel()
        self.nextAttemptTimer = nil
        guard !self.finished else { return }
        guard self.nextIndex < self.addresses.count else {
            if self.pendingCount == 0 {
                self.finish(.failure(HappyEyeballs.failure(host: self.host, attempts: self.failures)))
            }
            return
        }
        let address = self.addresses[self.nextIndex]
        self.nextIndex += 1
        self.pendingCount += 1
        let (channel, connected) = self.attempt(address)
        if let channel { self.pending[ObjectIdentifier(channel)] = channel }
        if self.nextIndex < self.addresses.count {
            self.nextAttemptTimer = self.loop.scheduleTask(in: self.attemptDelay) { [self] in self.startNextAttempt() }
        }
        connected.whenComplete { [self] result in
            self.pendingCount -= 1
            if let channel { self.pending[ObjectIdentifier(channel)] = nil }
            switch result {
            case .success(let winner):
                if self.finished {
                    _ = winner.close()
                } else {
                    self.finish(.success(winner))
                }
            case .failure(let error):
                guard !self.finished else { return }
                self.failures.append((address, error))
                // A failure starts the next attempt at once (RFC 8305 section 5).
                self.startNextAttempt()
            }
        }
    }

    private func finish(_ result: Result<any Channel, any Error>) {
        guard !self.finished else { return }
        self.finished = true
        self.nextAttemptTimer?.cancel()
        self.deadlineTimer?.cancel()
        self.nextAttemptTimer = nil
        self.deadlineTimer = nil
        let losers = self.pending.values
        self.pending = [:]
        for channel in losers { _ = channel.close() }
        self.promise.completeWith(result)
    }
}
