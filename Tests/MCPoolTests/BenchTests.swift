import ArgumentParser
import Channels
import Codecs
import Foundation
import MemcacheClient
import TestSupport
import Testing

@testable import mcpool

@Suite("mcpool bench against real servers")
struct BenchTests {
    /// A short run: 1 s, 16 callers, 500 keys; timeouts far beyond a sanitizer's stalls (a
    /// 5 s response timeout once failed the key preload under ThreadSanitizer in CI).
    static let short =
        ["--duration", "1", "--concurrency", "16", "--keys", "500"]
        + ["--response-timeout", "--lease-timeout", "--connect-timeout"].flatMap {
            [$0, "\(testPatience.nanoseconds / 1_000_000_000)"]
        }

    private func bench(_ arguments: [String]) throws -> Bench {
        try Bench.parse(Self.short + arguments)
    }

    @Test(
        "with no --server it starts the embedded server and finishes with zero errors; --json has the promised fields")
    func embedded() async throws {
        let report = try await self.bench([]).execute()
        #expect(report.tally.errorCount == 0, "\(report.tally.errors)")
        #expect(report.tally.operations > 0)
        #expect(report.tally.hits == report.tally.gets, "every key was stored first")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(report.json().utf8)) as? [String: Any])
        for field in ["ops_per_second", "p50_us", "p99_us", "p999_us", "errors", "duration_s", "stopped_early"] {
            #expect(json[field] != nil, "missing \(field)")
        }
        // The machine measured, in both forms: figures from one machine hold only there.
        let machine = try #require(json["machine"] as? String)
        #expect(machine.hasSuffix(" CPUs") && machine.count > " CPUs".count + 2, "\(machine)")
        #expect(report.table().contains("  machine      \(machine)"))
        // The .hgrm text: value (ms), percentile, count so far, 1/(1-percentile); then the summary.
        let hgrm = report.percentileDistribution()
        let rows = hgrm.split(separator: "\n").dropFirst().filter { !$0.hasPrefix("#") }.map {
            $0.split(separator: " ").compactMap { Double($0) }
        }
        #expect(rows.count > 10 && rows.allSatisfy { $0.count >= 3 }, "\(hgrm)")
        #expect(
            zip(rows, rows.dropFirst()).allSatisfy { $0[0] <= $1[0] && $0[1] <= $1[1] && $0[2] <= $1[2] }, "monotone")
        #expect(rows.last?[1] == 1.0 && rows.last.map { Int($0[2]) } == report.tally.operations)
        let median = try #require(rows.first { $0[1] >= 0.5 })
        let p50 = try #require(json["p50_us"] as? Double)
        #expect(abs(median[0] * 1000 - p50) <= p50 * 0.01 + 0.001, "median \(median[0]) ms, p50 \(p50) µs")
        #expect(hgrm.contains("#[Max     =") && hgrm.contains("Total count    =   "))
    }

    @Test("the machine's model comes from /proc/cpuinfo's first model name line, or is said to be unknown")
    func machineModel() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nmodel name\t: other\n"
        #expect(BenchMachine.modelName(inCPUInfo: text) == "AMD EPYC 7B13")
        #expect(BenchMachine.modelName(inCPUInfo: "processor\t: 0\nmodel name\t:   \n") == nil)
        #expect(BenchMachine.modelName(inCPUInfo: "") == nil)
        #expect(BenchMachine.description.hasSuffix(" CPUs"))
    }

    @Test("bad arguments are refused before anything starts")
    func validation() {
        #expect(throws: (any Error).self) { try Bench.parse(["--tls"]) }
        #expect(throws: (any Error).self) { try Bench.parse(["--ratio", "9"]) }
        #expect(throws: (any Error).self) { try Bench.parse(["--concurrency", "0"]) }
        #expect(throws: (any Error).self) { try Bench.parse(["--server", "127.0.0.1:11211", "--cert", "c.pem"]) }
    }

    @Test("counts and sizes past any sane range are refused with the option named, not trapped or allocated")
    func outOfRange() throws {
        // Each of these crashed (a 10-TB value, 2^63 in a sum) or started 10^11 tasks.
        let bad: [(command: String, [String])] = [
            ("bench", ["--value-size", "9999999999999"]), ("bench", ["--concurrency", "99999999999"]),
            ("bench", ["--keys", "99999999999"]), ("bench", ["--loops", "99999"]),
            ("bench", ["--ratio", "9223372036854775807:1"]), ("bench", ["--pipeline-depth", "0"]),
            ("bench", ["--connections-per-loop", "99999999999"]), ("bench", ["--duration", "-1"]),
            ("echo-bench", ["--message-size", "99999999999"]), ("echo-bench", ["--connections", "0"]),
            ("echo-bench", ["--depth", "99999999999"]), ("soak", ["--server", "127.0.0.1:1", "--callers", "0"]),
            ("soak", ["--server", "127.0.0.1:1", "--keys", "99999999999"]),
            ("serve", ["--memory-limit", "99999999999999"]),
            ("serve", ["--max-item-size", "0"]), ("serve", ["--max-connections", "-5"]),
        ]
        for (command, arguments) in bad {
            #expect(throws: (any Error).self, "\(command) \(arguments)") {
                switch command {
                case "bench": _ = try Bench.parse(arguments)
                case "echo-bench": _ = try EchoBench.parse(arguments)
                case "soak": _ = try Soak.parse(arguments)
                default: _ = try Serve.parse(arguments)
                }
            }
        }
        do {
            _ = try Bench.parse(["--concurrency", "99999999999"])
        } catch {
            #expect(Bench.message(for: error).contains("--concurrency is 1...1048576"), "\(Bench.message(for: error))")
        }
        // The edges are accepted.
        _ = try Bench.parse(["--value-size", "0", "--ratio", "1000000:0", "--concurrency", "1048576"])
        _ = try Serve.parse(["--memory-limit", "1048576", "--max-item-size", "1048576"])
    }

    @Test("against a real memcached, plain and TLS (-Z), it finishes with zero errors", arguments: [false, true])
    func realMemcached(tls: Bool) async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let memcached = try await MemcachedServer(arguments: tls ? MemcachedServer.tlsArguments : [], group: group)
        let tlsArguments = tls ? ["--tls", "--ca", fixturePath("tls/ca.pem")] : []
        let report = try await self.bench(["--server", "127.0.0.1:\(memcached.port)"] + tlsArguments).execute()
        #expect(report.tally.errorCount == 0, "\(report.tally.errors) \(report.tally.errorExamples)")
        #expect(report.tally.operations > 0 && report.tally.hits == report.tally.gets)
        memcached.stop()
        try await group.shutdownGracefully()
    }

    @Test("memcached killed in the middle of a run: the run ends on time with typed errors, no hang")
    func serverKilled() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let memcached = try await MemcachedServer(group: group)
        // 60 s: the kill must land inside the run, and on a loaded machine (the whole suite at
        // once, under a sanitizer) this task was once starved past a 10 s run's end before
        // it could kill (CI: 0 errors). Once the server is dead the calls fail fast.
        let bench = try Bench.parse(Self.short + ["--server", "127.0.0.1:\(memcached.port)", "--duration", "60"])
        let run = Task { try await bench.execute() }
        // The kill must land in the measured phase, after some call has completed (a loaded
        // machine can stretch both the key stores and the first replies' way back to their
        // callers). Each of the 16 callers waits for its call before the next, so once the
        // server has seen more gets than there are callers, some caller's get came back.
        let monitor = try await MemcacheConnection.connect(host: "127.0.0.1", port: memcached.port, group: group)
        try await poll(every: .milliseconds(20)) { (Int(try await monitor.stats()["cmd_get"] ?? "") ?? 0) > 16 }
        try? await monitor.close()
        try await Task.sleep(for: .milliseconds(500))
        memcached.stop()
        let killed = Deadline.now()
        let report = try await run.value
        let took = Deadline.now() - killed
        // The rest of the 60 s run, then the pool's 10 s shutdown deadline; a sanitizer's stall
        // on a loaded machine once added 30 s more. A hang is something else: a call waiting
        // for a dead server would sit out its response timeout (testPatience).
        #expect(took < .seconds(200), "\(took)")
        #expect(report.tally.errorCount > 0)
        #expect(report.tally.operations > 0, "it worked before the kill")
        let kinds = report.tally.errors.keys
        // The library's typed errors only: connects refused, requests lost with their connection.
        #expect(kinds.allSatisfy { $0.hasPrefix("MemcacheError.") }, "\(report.tally.errorExamples)")
        #expect(kinds.contains("MemcacheError.connect failed"), "once it is down, calls fail fast at connect")
        #expect(report.table().contains("errors       \(report.tally.errorCount)"))
        try await group.shutdownGracefully()
    }
}
