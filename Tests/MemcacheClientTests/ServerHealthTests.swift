import Channels
import Testing

@testable import MemcacheClient
@testable import Pool

@Suite("Server health: ejection, probes and flap damping")
struct ServerHealthTests {
    private let policy: MemcacheEjectionPolicy = {
        var policy = MemcacheEjectionPolicy()
        policy.failureLimit = 3
        policy.retryAfter = .seconds(3)
        policy.maximumRetryAfter = .seconds(20)
        policy.flapWindow = .seconds(60)
        return policy
    }()
    private let start = Deadline(uptimeNanoseconds: 1_000_000_000_000)

    @Test("the failure limit in a row ejects; a success in between starts the count again")
    func limit() {
        var health = ServerHealth()
        #expect(health.failed(now: self.start, policy: self.policy) == nil)
        #expect(health.failed(now: self.start, policy: self.policy) == nil)
        health.succeeded()
        #expect(health.failed(now: self.start, policy: self.policy) == nil)
        #expect(health.failed(now: self.start, policy: self.policy) == nil)
        #expect(health.failed(now: self.start, policy: self.policy) == .ejected(hold: .seconds(3)))
        #expect(health.state == .ejected(until: self.start + .seconds(3)))
        // Failures while out change nothing; no probe before the hold is over.
        #expect(health.failed(now: self.start, policy: self.policy) == nil)
        #expect(health.startProbeIfDue(now: self.start + .seconds(2)) == false)
        #expect(health.startProbeIfDue(now: self.start + .seconds(3)) == true)
        #expect(health.state == .probing)
        #expect(health.startProbeIfDue(now: self.start + .seconds(4)) == false, "one probe at a time")
        #expect(health.probeSucceeded(now: self.start + .seconds(4)) == .returned)
        #expect(health.isActive && health.failureStreak == 0 && health.ejections == 1)
    }

    @Test("a flapping server is left out longer each time, up to the maximum; a calm flap window forgives it")
    func flapDamping() {
        var health = ServerHealth()
        var now = self.start
        func ejectByFailures() -> ServerHealth.Transition? {
            _ = health.failed(now: now, policy: self.policy)
            _ = health.failed(now: now, policy: self.policy)
            return health.failed(now: now, policy: self.policy)
        }
        #expect(ejectByFailures() == .ejected(hold: .seconds(3)))
        now = now + .seconds(3)
        #expect(health.startProbeIfDue(now: now) == true)
        // The probe fails: out again, twice as long.
        #expect(health.probeFailed(now: now, policy: self.policy) == .ejected(hold: .seconds(6)))
        now = now + .seconds(6)
        #expect(health.startProbeIfDue(now: now) == true)
        #expect(health.probeSucceeded(now: now) == .returned)
        // Back, and failing again within the flap window: longer still, then capped.
        now = now + .seconds(5)
        #expect(ejectByFailures() == .ejected(hold: .seconds(12)))
        now = now + .seconds(12)
        #expect(health.startProbeIfDue(now: now) == true)
        #expect(health.probeFailed(now: now, policy: self.policy) == .ejected(hold: .seconds(20)))
        now = now + .seconds(20)
        #expect(health.startProbeIfDue(now: now) == true)
        #expect(health.probeSucceeded(now: now) == .returned)
        #expect(health.ejections == 4)
        // Healthy for the whole flap window: the next ejection is a first one again.
        now = now + .seconds(61)
        #expect(ejectByFailures() == .ejected(hold: .seconds(3)))
    }

    @Test("many flaps never overflow the hold")
    func manyFlaps() {
        var health = ServerHealth()
        var now = self.start
        for _ in 0..<3 { _ = health.failed(now: now, policy: self.policy) }
        for _ in 0..<200 {
            now = now + .seconds(30)
            #expect(health.startProbeIfDue(now: now) == true)
            #expect(
                health.probeFailed(now: now, policy: self.policy) == .ejected(hold: .seconds(20)) || health.flaps < 4)
        }
        #expect(health.hold == .seconds(20))
    }
}
