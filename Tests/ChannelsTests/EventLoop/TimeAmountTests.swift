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
}
