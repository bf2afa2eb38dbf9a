import Channels
import Codecs
import MemcacheServer
import MetricsTestKit
import TestSupport
import Testing

@Suite("The embedded server's swift-metrics")
struct ServerMetricsTests {
    @Test("after a known workload the reported counters and gauges equal stats, per loop too")
    func countersMatchStats() async throws {
        let metrics = TestMetrics()
        let fixture = try await EmbeddedServerFixture(loops: 2) {
            $0.metricsFactory = metrics
            $0.metricsInterval = .milliseconds(50)
        }
        let server = [("server.address", "127.0.0.1"), ("server.port", "\(fixture.port)")]
        // 3 sets, 5 gets (3 hits, 2 misses), on one connection, then it hangs up.
        let reply = try await exchangeUntilClose(
            with: fixture.server.localAddress,
            sending: Array(
                "set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nset c 0 0 1\r\n3\r\nget a\r\nget b\r\nget c\r\nget x\r\nget y\r\nquit\r\n"
                    .utf8),
            group: fixture.group)
        #expect(String(decoding: reply, as: UTF8.self).hasPrefix("STORED\r\nSTORED\r\nSTORED\r\nVALUE a 0 1"))
        #expect(try await poll { metrics.counterTotal(label: "memcached.cmd_get", dimensions: server) == 5 })
        #expect(try await poll { (try? metrics.expectGauge("memcached.curr_connections", server).lastValue) == 0 })
        func total(_ name: String) -> Int64 { metrics.counterTotal(label: name, dimensions: server) }
        let stats = fixture.server.statistics
        #expect(total("memcached.get_hits") == 3 && stats.getHits == 3)
        #expect(total("memcached.get_misses") == 2)
        #expect(total("memcached.cmd_set") == 3)
        #expect(total("memcached.total_items") == 3)
        #expect(total("memcached.total_connections") == 1)
        #expect(try metrics.expectGauge("memcached.curr_items", server).lastValue == 3)
        #expect(try metrics.expectGauge("memcached.bytes", server).lastValue == Double(stats.bytes))
        #expect(try metrics.expectGauge("memcached.threads", server).lastValue == 2)
        // Per loop: the one connection's 9 requests (quit included) on whichever loop had it.
        let commands = (0..<2).map {
            metrics.counterTotal(label: "memcached.loop.commands", dimensions: server + [("loop", "\($0)")])
        }
        #expect(
            commands.sorted() == [0, Int64(stats.commands)] && stats.commands >= 8, "\(commands) \(stats.commands)")
        // Counters only grow by what changed: a second report of the same counts adds nothing.
        try await Task.sleep(for: .milliseconds(200))
        #expect(total("memcached.cmd_get") == 5)
        try await fixture.stop()
    }

    @Test("metrics off: nothing is reported")
    func off() async throws {
        let metrics = TestMetrics()
        let fixture = try await EmbeddedServerFixture(loops: 1) {
            $0.reportsMetrics = false
            $0.metricsFactory = metrics
            $0.metricsInterval = .milliseconds(10)
        }
        _ = try await exchangeUntilClose(
            with: fixture.server.localAddress, sending: Array("get a\r\nquit\r\n".utf8), group: fixture.group)
        try await fixture.stop()
        #expect(metrics.counters.isEmpty && metrics.recorders.isEmpty)
    }
}
