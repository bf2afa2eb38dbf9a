import Channels
import Testing

@testable import Pool

@Suite("PoolStatistics")
struct PoolStatisticsTests {
    @Test("totals add the loops; the description shows waits in ms/µs, not ns")
    func description() {
        var first = PoolStatistics.Loop()
        first.idle = 2
        first.leased = 1
        first.leases = 10
        first.waitedLeases = 2
        first.totalWait = .microseconds(3_000)
        first.maxWait = .microseconds(2_500)
        var second = PoolStatistics.Loop()
        second.leased = 3
        second.waiting = 4
        second.waitedLeases = 2
        second.totalWait = .microseconds(1_000)
        second.maxWait = .microseconds(900)
        let statistics = PoolStatistics(loops: [first, second])
        #expect(statistics.total.open == 6)
        #expect(statistics.total.averageWait == .microseconds(1_000))
        #expect(
            statistics.description
                == "open 6 (idle 2, leased 4), connecting 0, waiting 4, created 0, closed 0, connect failures 0, leases 10, waited 4 (average 1 ms, max 2.5 ms)"
        )
    }
}
