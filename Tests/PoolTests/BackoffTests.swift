import Channels
import Testing

@testable import Pool

@Suite struct BackoffTests {
    @Test("the delay grows by the multiplier, stays within the jitter, and is capped")
    func growthAndCap() {
        let backoff = Backoff()
        var random = SystemRandomNumberGenerator()
        var expected = 100_000_000.0
        for failures in 1...40 {
            let delay = Double(backoff.delay(afterFailures: failures, using: &random).nanoseconds)
            let center = min(expected, 60e9)
            #expect(delay >= center * 0.97 - 1 && delay <= center * 1.03 + 1, "failure \(failures): \(delay)")
            expected *= 1.25
        }
        #expect(backoff.delay(afterFailures: 10_000, using: &random) <= .nanoseconds(61_800_000_000))
    }

    @Test("no cap, a huge multiplier or an infinite jitter saturate the delay, never trap")
    func extremesSaturate() {
        var random = SystemRandomNumberGenerator()
        let uncapped = Backoff(initial: .seconds(1), multiplier: 2, maximum: .nanoseconds(.max), jitter: 0.5)
        for failures in [1, 63, 64, 200, 10_000] {
            let delay = uncapped.delay(afterFailures: failures, using: &random)
            #expect(delay.nanoseconds > 0, "failure \(failures)")
        }
        #expect(
            Backoff(maximum: .seconds(.max), jitter: 0).delay(afterFailures: 10_000, using: &random)
                == .nanoseconds(.max))
        let wild = Backoff(initial: .seconds(1), multiplier: .infinity, maximum: .seconds(10), jitter: .infinity)
        #expect(wild.delay(afterFailures: 5, using: &random) == .seconds(10))
    }

    @Test("the breaker: fail fast while open, one probe after the backoff, reset on success")
    func breaker() {
        var breaker = ConnectBreaker(backoff: Backoff(jitter: 0))
        var random = SystemRandomNumberGenerator()
        let start = Deadline(uptimeNanoseconds: 1_000_000_000)
        struct Down: Error {}
        guard case .proceed = breaker.mayConnect(now: start) else {
            Issue.record("healthy must connect")
            return
        }
        #expect(breaker.connectFailed(Down(), now: start, random: &random) == .milliseconds(100))
        guard case .refuse = breaker.mayConnect(now: start + .milliseconds(99)) else {
            Issue.record("open must refuse")
            return
        }
        guard case .proceed = breaker.mayConnect(now: start + .milliseconds(100)) else {
            Issue.record("must probe")
            return
        }
        guard case .refuse = breaker.mayConnect(now: start + .milliseconds(100)) else {
            Issue.record("one probe only")
            return
        }
        // The probe fails: the backoff grows.
        #expect(breaker.connectFailed(Down(), now: start + .milliseconds(200), random: &random) == .milliseconds(125))
        guard case .proceed = breaker.mayConnect(now: start + .milliseconds(325)) else {
            Issue.record("must probe again")
            return
        }
        breaker.connectSucceeded()
        #expect(breaker.isHealthy)
        // After a success the next outage starts from the initial backoff again.
        #expect(breaker.connectFailed(Down(), now: start + .seconds(1), random: &random) == .milliseconds(100))
    }
}
