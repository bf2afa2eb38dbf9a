import Channels
import Testing

@Suite("TimeAmount")
struct TimeAmountTests {
    @Test("prints in the largest unit with a whole part, at most three decimals, no float digits")
    func description() {
        let cases: [(TimeAmount, String)] = [
            (.zero, "0 ns"), (.nanoseconds(999), "999 ns"), (.nanoseconds(1_000), "1 µs"),
            (.nanoseconds(1_500), "1.5 µs"), (.nanoseconds(420_000), "420 µs"), (.nanoseconds(1_234_567), "1.235 ms"),
            (.milliseconds(250), "250 ms"), (.seconds(10), "10 s"), (.nanoseconds(2_000_400_000), "2 s"),
            (.nanoseconds(999_999_999), "1000 ms"), (.nanoseconds(-1_500_000), "-1.5 ms"),
            (.nanoseconds(.max), "9223372036.855 s"), (.nanoseconds(.min), "-9223372036.855 s"),
        ]
        for (amount, text) in cases { #expect(amount.description == text, "\(amount.nanoseconds) ns") }
    }

    @Test("factories and arithmetic saturate at the bounds of Int64 nanoseconds instead of trapping")
    func saturation() {
        #expect(TimeAmount.seconds(.max).nanoseconds == .max)
        #expect(TimeAmount.milliseconds(.min).nanoseconds == .min)
        #expect(TimeAmount.microseconds(Int64.max / 10).nanoseconds == .max)
        #expect((TimeAmount.seconds(.max) + .seconds(1)).nanoseconds == .max)
        #expect((TimeAmount.nanoseconds(.min) - .seconds(1)).nanoseconds == .min)
        #expect((TimeAmount.nanoseconds(.max) - .nanoseconds(.min)).nanoseconds == .max)
        #expect((TimeAmount.seconds(5) * .max).nanoseconds == .max)
        #expect((TimeAmount.seconds(-5) * .max).nanoseconds == .min)
        #expect(TimeAmount.seconds(3) + .milliseconds(500) == .milliseconds(3500))
        #expect(TimeAmount.seconds(2) * 3 == .seconds(6))
    }

    @Test("a deadline a span away stops at distantFuture and distantPast: .max from now is never already due")
    func deadlineSaturation() {
        let now = Deadline.now()
        #expect(now + .nanoseconds(.max) == .distantFuture)
        #expect(now - .nanoseconds(.min) == .distantFuture)
        #expect(now + .nanoseconds(.min) == .distantPast)
        #expect(now - .nanoseconds(.max) == .distantPast)
        #expect(Deadline.distantFuture + .seconds(1) == .distantFuture)
        #expect((now + .seconds(1)) - now == .seconds(1))
    }

    @Test("a loop task scheduled .nanoseconds(.max) away waits (it ran at once when the sum wrapped)")
    func scheduledForEver() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let loop = group.loops[0]
        let forever = loop.scheduleTask(in: .nanoseconds(.max)) { Issue.record("a task for ever away ran") }
        // A task due now runs after any task that is due too.
        try await loop.scheduleTask(in: .zero) {}.futureResult.get()
        try await loop.submit {}.get()
        forever.cancel()
        try await group.shutdownGracefully()
    }

    @Test("whole units, rounded up; zero and negative spans are not rounded away from zero")
    func roundedUp() {
        #expect(TimeAmount.nanoseconds(1).roundedUp(to: 1_000_000) == 1)
        #expect(TimeAmount.milliseconds(2).roundedUp(to: 1_000_000) == 2)
        #expect(TimeAmount.nanoseconds(2_000_001).roundedUp(to: 1_000_000) == 3)
        #expect(TimeAmount.nanoseconds(.max).roundedUp(to: 1_000_000_000) == Int64.max / 1_000_000_000 + 1)
        #expect(TimeAmount.zero.roundedUp(to: 1_000) == 0)
        #expect(TimeAmount.nanoseconds(-1_500).roundedUp(to: 1_000) == -1)
    }
}
