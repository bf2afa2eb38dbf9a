import ArgumentParser
import Channels
import Codecs
import Foundation
import MemcacheClient
import MemcacheServer
import TestSupport
import Testing

@testable import mcpool

@Suite("mcpool get, set, delete and stats")
struct ClientCommandTests {
    @Test("set stores, get finds, delete removes, stats answers; a miss exits 1; --server is validated")
    func commands() async throws {
        let fixture = try await EmbeddedServerFixture()
        let server = ["--server", "127.0.0.1:\(fixture.port)"]
        try await SetCommand.parse(server + ["greeting", "hello", "--ttl", "3600"]).run()
        let memcache = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        #expect(try await memcache.get("greeting") == ByteBuffer(string: "hello"))
        try await GetCommand.parse(server + ["greeting"]).run()
        try await StatsCommand.parse(server).run()
        try await DeleteCommand.parse(server + ["greeting"]).run()
        #expect(try await memcache.get("greeting") == nil)
        await #expect(throws: ExitCode.failure) { try await GetCommand.parse(server + ["greeting"]).run() }
        await #expect(throws: ExitCode.failure) { try await DeleteCommand.parse(server + ["greeting"]).run() }
        await #expect(throws: MemcacheError.self) { try await SetCommand.parse(server + ["bad key", "x"]).run() }
        #expect(throws: (any Error).self) { try SetCommand.parse(["--server", "nocolon", "k", "v"]).target.endpoint() }
        #expect(throws: (any Error).self) { try GetCommand.parse(["--ca", "ca.pem", "k"]) }
        try await memcache.close()
        try await fixture.stop()
    }

    @Test("--namespace prefixes every key of get, set, delete and bench; a bad prefix is refused")
    func namespace() async throws {
        let fixture = try await EmbeddedServerFixture()
        let server = ["--server", "127.0.0.1:\(fixture.port)", "--namespace", "tenant-1:"]
        try await SetCommand.parse(server + ["greeting", "hello"]).run()
        let memcache = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        #expect(try await memcache.get("tenant-1:greeting") == ByteBuffer(string: "hello"))
        #expect(try await memcache.get("greeting") == nil)
        try await GetCommand.parse(server + ["greeting"]).run()
        try await DeleteCommand.parse(server + ["greeting"]).run()
        #expect(try await memcache.get("tenant-1:greeting") == nil)
        let report = try await Bench.parse(
            server + ["--duration", "0.2", "--concurrency", "4", "--keys", "10", "--json"]
        )
        .execute()
        #expect(report.tally.operations > 0 && report.tally.errorCount == 0, "\(report.tally)")
        #expect(
            try await memcache.getMany(["tenant-1:mcpool:bench:0", "mcpool:bench:0"]).keys.map(\.description) == [
                "tenant-1:mcpool:bench:0"
            ])
        #expect(throws: (any Error).self) { try GetCommand.parse(["--namespace", "two words", "k"]) }
        try await memcache.close()
        try await fixture.stop()
    }

    @Test(
        "--username/--password and --auth-file authenticate get, set, delete, stats and bench against memcached -Y; a wrong password is the server's words"
    )
    func authentication() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let user = try MemcacheCredentials(username: "ops", password: "letmein")
        let memcached = try await MemcachedServer(users: [user], group: group)
        let server = ["--server", "127.0.0.1:\(memcached.port)"]
        let login = server + ["--username", "ops", "--password", "letmein"]
        let file = NSTemporaryDirectory() + "mcpool-auth-\(UUID().uuidString.prefix(8))"
        try "ops:letmein\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try await SetCommand.parse(login + ["greeting", "hello"]).run()
        try await GetCommand.parse(server + ["--auth-file", file, "greeting"]).run()
        try await StatsCommand.parse(login).run()
        try await DeleteCommand.parse(login + ["greeting"]).run()
        let report = try await Bench.parse(
            server + ["--auth-file", file, "--duration", "0.2", "--concurrency", "4", "--keys", "10", "--json"]
        )
        .execute()
        #expect(report.tally.operations > 0 && report.tally.errorCount == 0, "\(report.tally)")
        await #expect(throws: MemcacheError(.authenticationFailed, "unauthenticated")) {
            try await GetCommand.parse(server + ["greeting"]).run()
        }
        await #expect {
            try await GetCommand.parse(server + ["--username", "ops", "--password", "nope", "greeting"]).run()
        } throws: { error in
            (error as? MemcacheError)?.code == .authenticationFailed
                && (error as? MemcacheError)?.message.contains("authentication failure") == true
        }
        #expect(throws: (any Error).self) { try GetCommand.parse(server + ["--username", "ops", "k"]) }
        #expect(throws: (any Error).self) {
            try GetCommand.parse(login + ["--auth-file", file, "k"])
        }
        memcached.stop()
        try await group.shutdownGracefully()
    }

    @Test("--compress zstd: set stores a large value compressed, get reads it back, bench runs on JSON values")
    func compression() async throws {
        let fixture = try await EmbeddedServerFixture()
        let server = ["--server", "127.0.0.1:\(fixture.port)", "--compress", "zstd"]
        let large = String(repeating: "{\"name\":\"value\"}", count: 500)
        try await SetCommand.parse(server + ["doc", large]).run()
        let memcache = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        let item = try #require(try await memcache.getItem("doc"))
        #expect(item.flags == MemcacheCompression.flag && item.value.readableBytes < large.utf8.count / 5)
        try await GetCommand.parse(server + ["doc"]).run()
        let report = try await Bench.parse(
            server + [
                "--duration", "0.3", "--concurrency", "4", "--keys", "10", "--value-size", "40000", "--value-json",
            ]
        )
        .execute()
        #expect(report.tally.operations > 0 && report.tally.errorCount == 0, "\(report.tally)")
        let benchItem = try #require(try await memcache.getItem("mcpool:bench:0"))
        #expect(benchItem.flags == MemcacheCompression.flag, "bench stores its values compressed")
        #expect(throws: (any Error).self) { try GetCommand.parse(["--compress", "lz4", "k"]) }
        try await memcache.close()
        try await fixture.stop()
    }

    @Test("over TLS with --tls --ca")
    func tls() async throws {
        let serverTLS = try TLSContext.patient(
            configuration: .server(
                certificateChain: .file(fixturePath("tls/server-chain.pem")),
                privateKey: .file(fixturePath("tls/server.key"))))
        let fixture = try await EmbeddedServerFixture { $0.tls = serverTLS }
        let patience = ["--connect-timeout", "\(testPatience.nanoseconds / 1_000_000_000)"]
        let arguments =
            ["--server", "127.0.0.1:\(fixture.port)", "--tls", "--ca", fixturePath("tls/ca.pem")] + patience
        try await SetCommand.parse(arguments + ["secret", "kept"]).run()
        try await GetCommand.parse(arguments + ["secret"]).run()
        // Without the CA the server's certificate is not trusted.
        await #expect(throws: (any Error).self) {
            try await GetCommand.parse(["--server", "127.0.0.1:\(fixture.port)", "--tls", "secret"] + patience).run()
        }
        try await fixture.stop()
    }

    @Test(
        "--protocol twemproxy: set, get, delete and bench through a real nutcracker; stats is refused with a typed error",
        .enabled(
            if: MemcachedServer.binary != nil && NutcrackerServer.binary != nil,
            "memcached or nutcracker is not installed"))
    func throughTwemproxy() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let backend = try await MemcachedServer(group: group)
        let proxy = try await NutcrackerServer(backends: [backend.port], group: group)
        let arguments = ["--server", "127.0.0.1:\(proxy.port)", "--protocol", "twemproxy"]
        try await SetCommand.parse(arguments + ["greeting", "hello"]).run()
        let direct = try await MemcacheConnection.connect(host: "127.0.0.1", port: backend.port, group: group)
        #expect(try await direct.get("greeting") == ByteBuffer(string: "hello"))
        try await GetCommand.parse(arguments + ["greeting"]).run()
        try await DeleteCommand.parse(arguments + ["greeting"]).run()
        #expect(try await direct.get("greeting") == nil)
        do {
            try await StatsCommand.parse(arguments).run()
            Issue.record("stats went through twemproxy")
        } catch let error as MemcacheError {
            #expect(error.code == .unsupportedCommand)
        }
        let patience = ["--response-timeout", "--lease-timeout", "--connect-timeout"].flatMap {
            [$0, "\(testPatience.nanoseconds / 1_000_000_000)"]
        }
        let report = try await Bench.parse(
            arguments + patience + ["--duration", "0.3", "--concurrency", "8", "--keys", "100", "--json"]
        ).execute()
        #expect(report.tally.operations > 0 && report.tally.errorCount == 0, "\(report.tally)")
        #expect(report.tally.hits == report.tally.gets, "the preload went through the proxy too")
        #expect(try await direct.get("mcpool:bench:0") != nil)
        try await direct.close()
        proxy.stop()
        backend.stop()
        try await group.shutdownGracefully()
    }

    @Test(
        "every client subcommand over a Unix-domain socket (memcached -s), meta and text",
        .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
    func overUnixSocket() async throws {
        let directory = NSTemporaryDirectory() + "mcpool-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let group = try EventLoopGroup(loopCount: 1)
        let path = directory + "/memcached.sock"
        let server = try await MemcachedServer(unixSocketPath: path, group: group)
        let direct = try await MemcacheConnection.connect(unixDomainSocketPath: path, group: group)
        let patience = ["--response-timeout", "--lease-timeout", "--connect-timeout"].flatMap {
            [$0, "\(testPatience.nanoseconds / 1_000_000_000)"]
        }
        for wireProtocol in ["meta", "text"] {
            let arguments = ["--server", "unix:\(path)", "--protocol", wireProtocol]
            try await SetCommand.parse(arguments + ["greeting", "hello \(wireProtocol)"]).run()
            #expect(try await direct.get("greeting") == ByteBuffer(string: "hello \(wireProtocol)"))
            try await GetCommand.parse(arguments + ["greeting"]).run()
            try await StatsCommand.parse(arguments).run()
            try await DeleteCommand.parse(arguments + ["greeting"]).run()
            #expect(try await direct.get("greeting") == nil)
            await #expect(throws: ExitCode.failure) { try await GetCommand.parse(arguments + ["greeting"]).run() }
            let report = try await Bench.parse(
                arguments + patience + ["--duration", "0.3", "--concurrency", "8", "--keys", "100", "--json"]
            ).execute()
            #expect(report.tally.operations > 0 && report.tally.errorCount == 0, "\(report.tally)")
        }
        #expect(throws: (any Error).self) { try GetCommand.parse(["--server", "unix:", "k"]).target.endpoint() }
        try await direct.close()
        server.stop()
        try await group.shutdownGracefully()
    }

    @Test(
        "a ring: --server A,B,C and --servers-file place keys as libmemcached's ketama does; bench runs over it; bad lists are refused",
        .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
    func ring() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        var memcached: [MemcachedServer] = []
        for _ in 0..<3 { memcached.append(try await MemcachedServer(group: group)) }
        let list = memcached.map { "127.0.0.1:\($0.port)" }
        let servers = memcached.map { MemcacheServerSet.Server(host: "127.0.0.1", port: $0.port) }
        let ring = KetamaRing(servers: servers.map { ($0.host, $0.port) })
        let keys = (0..<12).map { "ring-\($0)" }
        for key in keys { try await SetCommand.parse(["--server", list.joined(separator: ","), key, key]).run() }
        // Each key is on the server the placement names, and only there.
        for key in keys {
            let owner = ring.serverIndex(for: Array(key.utf8))
            for (index, server) in memcached.enumerated() {
                let direct = try await MemcacheConnection.connect(host: "127.0.0.1", port: server.port, group: group)
                let found = try await direct.get(MemcacheKey(key))
                #expect((found != nil) == (index == owner), "\(key) on server \(index), placed on \(owner)")
                try await direct.close()
            }
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ring-\(UUID()).txt")
        defer { try? FileManager.default.removeItem(at: file) }
        try ("# three servers\n" + list.joined(separator: "\n") + "\n").write(
            to: file, atomically: true, encoding: .utf8)
        for key in keys { try await GetCommand.parse(["--servers-file", file.path, key]).run() }
        try await DeleteCommand.parse(["--servers-file", file.path, keys[0]]).run()
        await #expect(throws: ExitCode.failure) {
            try await GetCommand.parse(["--servers-file", file.path, keys[0]]).run()
        }

        let report = try await Bench.parse(
            ["--servers-file", file.path, "--duration", "0.3", "--concurrency", "8", "--keys", "100", "--json"]
        ).execute()
        #expect(report.tally.operations > 0 && report.tally.errorCount == 0, "\(report.tally)")
        #expect(report.server.hasPrefix("a ring of 3 servers"))

        try "127.0.0.1:11211\nnot a server\n".write(to: file, atomically: true, encoding: .utf8)
        await #expect(throws: ValidationError.self) {
            try await GetCommand.parse(["--servers-file", file.path, "k"]).run()
        }
        #expect(throws: (any Error).self) {
            try GetCommand.parse(["--server", list[0], "--servers-file", file.path, "k"])
        }
        #expect(throws: (any Error).self) {
            try StatsCommand.parse(["--server", list.joined(separator: ",")]).target.endpoint()
        }
        for server in memcached { server.stop() }
        try await group.shutdownGracefully()
    }

    @Test(
        "bench watches --servers-file: a server added to the file mid-run takes its share of the keys, with no error",
        .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
    func benchWatchesServersFile() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        var memcached: [MemcachedServer] = []
        for _ in 0..<3 { memcached.append(try await MemcachedServer(group: group)) }
        let lines = memcached.map { "127.0.0.1:\($0.port)" }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("watched-\(UUID()).txt")
        defer { try? FileManager.default.removeItem(at: file) }
        try (lines[0..<2].joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        func commands(_ index: Int) async throws -> Int {
            let direct = try await MemcacheConnection.connect(
                host: "127.0.0.1", port: memcached[index].port, group: group)
            let stats = try await direct.stats()
            try await direct.close()
            return (Int(stats["cmd_get"] ?? "") ?? 0) + (Int(stats["cmd_set"] ?? "") ?? 0)
        }
        // A run with no end of its own: the test stops it once the added server took requests.
        let stop = BenchStop()
        let run = Task {
            try await Bench.parse(
                [
                    "--servers-file", file.path, "--servers-file-interval", "0.05", "--duration", "600",
                    "--concurrency", "8", "--keys", "100", "--json",
                ]
            ).execute(stop: stop)
        }
        #expect(try await poll(every: .milliseconds(20)) { try await commands(0) > 100 })
        try (lines.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
        let joined = try await poll(every: .milliseconds(20)) { try await commands(2) > 0 }
        stop.request()
        let report = try await run.value
        #expect(joined)
        #expect(report.tally.operations > 0 && report.tally.errorCount == 0, "\(report.tally)")
        for server in memcached { server.stop() }
        try await group.shutdownGracefully()
    }

    @Test(
        "--replicas 2 writes each key to two servers of the ring and reads survive one's death; --gutter takes a dead server's keys; bad combinations are refused",
        .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
    func replicasAndGutter() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        var memcached: [MemcachedServer] = []
        for _ in 0..<3 { memcached.append(try await MemcachedServer(group: group)) }
        let spare = try await MemcachedServer(group: group)
        let list = memcached.map { "127.0.0.1:\($0.port)" }.joined(separator: ",")
        let keys = (0..<12).map { "copy-\($0)" }
        for key in keys { try await SetCommand.parse(["--server", list, "--replicas", "2", key, key]).run() }
        var stored = 0
        for server in memcached {
            let direct = try await MemcacheConnection.connect(host: "127.0.0.1", port: server.port, group: group)
            stored += try await direct.getMany(keys.map { try MemcacheKey($0) }).count
            try await direct.close()
        }
        #expect(stored == 2 * keys.count)
        memcached[0].stop()
        for key in keys { try await GetCommand.parse(["--server", list, "--replicas", "2", key]).run() }

        // The dead server's keys go to the gutter, with its TTL cap.
        let gutter = "127.0.0.1:\(spare.port)"
        let ring = KetamaRing(servers: memcached.map { ("127.0.0.1", $0.port) })
        let lost = (0..<100).map { "lost-\($0)" }.filter { ring.serverIndex(for: Array($0.utf8)) == 0 }.prefix(3)
        for key in lost {
            try await SetCommand.parse(["--server", list, "--gutter", gutter, "--gutter-ttl", "30", key, "g"]).run()
            try await GetCommand.parse(["--server", list, "--gutter", gutter, key]).run()
        }
        let direct = try await MemcacheConnection.connect(host: "127.0.0.1", port: spare.port, group: group)
        #expect(try await direct.getMany(lost.map { try MemcacheKey($0) }).count == lost.count)
        try await direct.close()
        let report = try await Bench.parse(
            ["--server", list, "--replicas", "2", "--duration", "0.3", "--concurrency", "8", "--keys", "100", "--json"]
        ).execute()
        #expect(report.tally.operations > 0 && report.tally.errorCount == 0, "\(report.tally)")
        #expect(report.server.contains("2 copies of each key"))

        #expect(throws: (any Error).self) { try GetCommand.parse(["--server", "127.0.0.1:1", "--replicas", "2", "k"]) }
        await #expect(throws: ValidationError.self) {
            try await GetCommand.parse(["--server", list, "--replicas", "4", "k"]).run()
        }
        #expect(throws: (any Error).self) { try GetCommand.parse(["--server", list, "--replicas", "0", "k"]) }
        for server in memcached { server.stop() }
        spare.stop()
        try await group.shutdownGracefully()
    }
}
