import Channels
import Codecs
import Foundation
import Glibc
import MemcacheClient
import TestSupport
import Testing

@testable import mcpool

@Suite("HTTP request heads for the metrics endpoint")
struct HTTPRequestHeadDecoderTests {
    @Test("request heads decode the same however the bytes arrive, pipelined, with CRLF or bare LF")
    func heads() throws {
        let input = Array(
            "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept:  text/plain \r\n\r\nHEAD /metrics?a=1 HTTP/1.0\nConnection: keep-alive\n\n"
                .utf8)
        let expected = [
            HTTPRequestHead(
                method: "GET", target: "/metrics", minorVersion: 1, headers: [("Host", "x"), ("Accept", "text/plain")]),
            HTTPRequestHead(
                method: "HEAD", target: "/metrics?a=1", minorVersion: 0, headers: [("Connection", "keep-alive")]),
        ]
        #expect(try verifyDecoder({ HTTPRequestHeadDecoder() }, input: input, expected: expected) == nil)
        #expect(expected[0].keepAlive && expected[1].keepAlive && expected[1].path == "/metrics")
        #expect(
            !HTTPRequestHead(method: "GET", target: "/", minorVersion: 1, headers: [("connection", "Close")]).keepAlive)
        #expect(!HTTPRequestHead(method: "GET", target: "/", minorVersion: 0, headers: []).keepAlive)
    }

    @Test("garbage, other versions, bodies and endless heads are errors that close the connection")
    func refused() throws {
        let bad = [
            "garbage\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n", "get /metrics HTTP/1.1\r\n\r\n",
            "GET metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nBad name: x\r\n\r\n",
            "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\n\r\n",
        ]
        for request in bad {
            for (error, closed) in try decodingError({ HTTPRequestHeadDecoder() }, input: Array(request.utf8)) {
                #expect(error is HTTPRequestError, "\(request.prefix(40)): \(String(describing: error))")
                #expect(closed)
            }
        }
    }
}

@Suite("mcpool serve --metrics")
struct MetricsEndpointTests {
    @Test(
        "curl fetches /metrics, Prometheus' own parser reads it, its counters match stats; bad HTTP gets 400 and the memcache port never notices"
    )
    func endpoint() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let metricsPort = try freePort()
        let (server, port) = try await ServeProcessTests.startServe(
            group: group, ["--metrics", "127.0.0.1:\(metricsPort)"])
        defer { server.kill() }
        let memcache = try await MemcacheConnection.connect(host: "127.0.0.1", port: port, group: group)
        try await memcache.set("a", to: ByteBuffer(string: "1"))
        _ = try await memcache.get("a")
        _ = try await memcache.get("nope")
        let stats = try await memcache.stats()

        let curl = try #require(findExecutable(["/usr/bin/curl", "/usr/local/bin/curl"]), "curl is not installed")
        let exposition = try await runProcess(curl, ["-sS", "--fail", "http://127.0.0.1:\(metricsPort)/metrics"])
        let python = try await pythonWithPackages(["prometheus_client==0.21.1"])
        let parse = """
            import sys, json
            from prometheus_client.parser import text_string_to_metric_families
            out = {}
            for family in text_string_to_metric_families(sys.stdin.read()):
                for sample in family.samples:
                    key = sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items()))
                    out[key] = sample.value
            print(json.dumps(out))
            """
        let parsed =
            try JSONSerialization.jsonObject(
                with: Data(try await runProcess(python, ["-c", parse], input: exposition).utf8)) as? [String: Double]
            ?? [:]
        let pairs = [
            ("curr_connections", "memcached_curr_connections"), ("total_connections", "memcached_connections_total"),
            ("cmd_get", "memcached_cmd_get_total"), ("cmd_set", "memcached_cmd_set_total"),
            ("get_hits", "memcached_get_hits_total"),
            ("get_misses", "memcached_get_misses_total"), ("curr_items", "memcached_curr_items"),
            ("total_items", "memcached_items_total"),
            ("bytes", "memcached_bytes"), ("evictions", "memcached_evictions_total"), ("threads", "memcached_threads"),
            ("limit_maxbytes", "memcached_limit_maxbytes"), ("cmd_touch", "memcached_cmd_touch_total"),
        ]
        for (stat, metric) in pairs {
            #expect(
                parsed[metric].map { Int($0) } == stats[stat].flatMap { Int($0) },
                "\(stat) \(stats[stat] ?? "-") vs \(metric) \(parsed[metric].map { "\($0)" } ?? "missing")")
        }
        // Per loop: the set, two gets and the stats, on whichever loop the connection is on.
        let commands = (0..<2).compactMap { parsed["mcpool_loop_commands_total{loop=\($0)}"] }
        #expect(commands.count == 2 && Int(commands.reduce(0, +)) == 4, "\(parsed)")
        let open = (0..<2).compactMap { parsed["mcpool_loop_curr_connections{loop=\($0)}"] }
        #expect(open.count == 2 && Int(open.reduce(0, +)) == 1)

        // Garbage: a 400 and a close; unknown paths 404; the memcache connection goes on.
        let metricsAddress = try SocketAddress(ipAddress: "127.0.0.1", port: metricsPort)
        let garbage = String(
            decoding: try await exchangeUntilClose(
                with: metricsAddress, sending: Array("\u{1}\u{2}garbage\r\n\r\n".utf8), group: group), as: UTF8.self)
        #expect(
            garbage.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && garbage.contains("Connection: close"), "\(garbage)")
        let endless = String(
            decoding: try await exchangeUntilClose(
                with: metricsAddress, sending: Array(repeating: UInt8(ascii: "A"), count: 20_000), group: group),
            as: UTF8.self)
        #expect(endless.hasPrefix("HTTP/1.1 400 Bad Request\r\n"), "\(endless.prefix(80))")
        let notFound = String(
            decoding: try await exchangeUntilClose(
                with: metricsAddress, sending: Array("GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n".utf8),
                group: group), as: UTF8.self)
        #expect(notFound.hasPrefix("HTTP/1.1 404 Not Found\r\n"))
        #expect(try await memcache.get("a") == ByteBuffer(string: "1"))
        try await memcache.close()
        server.send(SIGTERM)
        #expect(try await poll { !server.isRunning })
        #expect(server.exitCode == 0)
        try await group.shutdownGracefully()
    }
}
