import Channels
import Foundation
import Logging
import TestSupport
import Testing

@testable import MemcacheClient

/// `MemcacheServerDiscovery`: a watched server-list file edited under load, and host names
/// whose addresses change (an injected resolver: the test decides what the name resolves to).
@Suite("Server discovery")
struct ServerDiscoveryTests {
    typealias Server = MemcacheServerSet.Server

    @Test(
        "server-list files: host:port[:weight], [v6]:port, comments and blanks; a bad line is a typed error naming it")
    func parsing() throws {
        let servers = try MemcacheServerDiscovery.parse(
            """
            # the cache tier
            10.0.0.1:11211
              10.0.0.2:11212:3   # a bigger box

            [::1]:11211:2
            cache.internal:11211
            """)
        #expect(
            servers == [
                Server(host: "10.0.0.1", port: 11211), Server(host: "10.0.0.2", port: 11212, weight: 3),
                Server(host: "::1", port: 11211, weight: 2), Server(host: "cache.internal", port: 11211),
            ])
        #expect(try MemcacheServerDiscovery.parse("\n# nothing\n").isEmpty)
        for bad in [
            "10.0.0.1", "10.0.0.1:0", "10.0.0.1:70000", "10.0.0.1:11211:0", "a b:1", "[::1:11211", "x:1:2:3",
            "10.0.0.1:11211:4294967296", "10.0.0.1:11211:9223372036854775807",
        ] {
            let error = try #require(throws: MemcacheError.self) {
                try MemcacheServerDiscovery.parse("10.0.0.9:11211\n\(bad)\n")
            }
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("line 2:"), "\(error.message)")
        }
    }

    @Test(
        "a watched file edited under load: a server added, one removed, a broken file ignored with a log line; 0 failed calls, 0 wrong values",
        .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
    func watchedFile() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        var memcached: [MemcachedServer] = []
        for _ in 0..<3 { memcached.append(try await MemcachedServer(group: group)) }
        let line = { (index: Int) in "127.0.0.1:\(memcached[index].port)" }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("servers-\(UUID()).txt")
        defer { try? FileManager.default.removeItem(at: file) }
        try "\(line(0))\n\(line(1))\n".write(to: file, atomically: true, encoding: .utf8)

        let set = MemcacheServerSet(
            servers: [Server(host: "127.0.0.1", port: memcached[0].port)], group: group, configure: waitPatiently)
        let logs = CapturedLogs()
        let discovery = MemcacheServerDiscovery(
            set: set, source: .file(path: file.path), interval: .milliseconds(50),
            logger: logs.logger(label: "discovery"))
        let watching = Task { await discovery.refreshPeriodically() }
        func servers() -> Set<Int> { Set(set.servers.map(\.port)) }
        #expect(try await poll { servers() == [memcached[0].port, memcached[1].port] })

        // Load: callers whose values encode their own key, all through the edits.
        let running = LockedValue(true)
        let outcome = LockedValue((calls: 0, failures: [String](), wrong: 0))
        let load = Task {
            await withTaskGroup(of: Void.self) { callers in
                for caller in 0..<16 {
                    callers.addTask {
                        var round = 0
                        while running.withLock({ $0 }) {
                            round += 1
                            let key = "discovered-\(caller)-\(round % 50)"
                            let value = ByteBuffer(string: "\(key)|\(round)")
                            do {
                                try await set.set(MemcacheKey(key), to: value)
                                let read = try await set.get(MemcacheKey(key))
                                outcome.withLock {
                                    $0.calls += 2
                                    if let read, !String(buffer: read).hasPrefix("\(key)|") { $0.wrong += 1 }
                                }
                            } catch {
                                outcome.withLock { $0.failures.append("\(error)") }
                            }
                        }
                    }
                }
            }
        }
        func callsSoFar() -> Int { outcome.withLock { $0.calls } }
        #expect(try await poll { callsSoFar() > 200 })

        try "\(line(0))\n\(line(1))\n\(line(2))\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(try await poll { servers() == Set(memcached.map(\.port)) })
        let afterAdd = callsSoFar()
        #expect(try await poll { callsSoFar() > afterAdd + 200 })

        try "# one left for maintenance\n\(line(1))\n\(line(2))\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(try await poll { servers() == [memcached[1].port, memcached[2].port] })
        let afterRemove = callsSoFar()
        #expect(try await poll { callsSoFar() > afterRemove + 200 })

        try "\(line(1))\nthis is not a server\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(
            try await poll { !logs.messages(atLeast: .warning, startingWith: "the server list cannot be used").isEmpty }
        )
        #expect(servers() == [memcached[1].port, memcached[2].port], "the last good list stays")
        let afterBroken = callsSoFar()
        #expect(try await poll { callsSoFar() > afterBroken + 200 })

        running.withLock { $0 = false }
        await load.value
        watching.cancel()
        await watching.value
        let result = outcome.withLock { $0 }
        #expect(result.failures.isEmpty, "\(result.failures.prefix(3))")
        #expect(result.wrong == 0)
        #expect(logs.messages(atLeast: .info, startingWith: "the memcache servers changed").count == 3)
        await set.shutdown()
        for server in memcached { server.stop() }
        try await group.shutdownGracefully()
    }

    @Test(
        "DNS: a name's addresses are its servers; the set follows when they change; no answer keeps the last good ones")
    func dns() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        let answer = LockedValue<Result<[SocketAddress], any Error>>(
            .success([try SocketAddress(ipAddress: "127.0.0.1", port: 11211)]))
        let set = MemcacheServerSet(servers: [Server(host: "127.0.0.9", port: 11211)], group: group)
        let logs = CapturedLogs()
        let discovery = MemcacheServerDiscovery(
            set: set,
            source: .dns(names: [Server(host: "cache.test", port: 11211, weight: 2)]) { host, port in
                #expect(host == "cache.test" && port == 11211)
                return try answer.withLock { try $0.get() }
            },
            logger: logs.logger(label: "discovery"))

        #expect(await discovery.refresh() == [Server(host: "127.0.0.1", port: 11211, weight: 2)])
        #expect(set.servers == [Server(host: "127.0.0.1", port: 11211, weight: 2)])

        // The name now has two addresses (and repeats one): both are servers.
        answer.withLock {
            $0 = .success([
                try! SocketAddress(ipAddress: "127.0.0.1", port: 11211),
                try! SocketAddress(ipAddress: "::1", port: 11211),
                try! SocketAddress(ipAddress: "127.0.0.1", port: 11211),
            ])
        }
        await discovery.refresh()
        #expect(Set(set.servers.map(\.host)) == ["127.0.0.1", "::1"])

        // Resolution fails, then answers nothing: the last good addresses stay, logged.
        answer.withLock { $0 = .failure(MemcacheError(.connectFailed, "no DNS today")) }
        await discovery.refresh()
        answer.withLock { $0 = .success([]) }
        await discovery.refresh()
        #expect(Set(set.servers.map(\.host)) == ["127.0.0.1", "::1"])
        #expect(logs.messages(atLeast: .warning, startingWith: "a memcache host name").count == 2)

        // The name moves: the set follows.
        answer.withLock { $0 = .success([try! SocketAddress(ipAddress: "127.0.0.2", port: 11211)]) }
        await discovery.refresh()
        #expect(set.servers.map(\.host) == ["127.0.0.2"])
        await set.shutdown()
        try await group.shutdownGracefully()
    }
}
