import Foundation
import Hummingbird
import HummingbirdAuth
import HummingbirdTesting
import MemcacheClient
import Testing

@testable import HummingbirdMemcache
@testable import HummingbirdMemcacheExample

/// The driver and the example app against a real memcached, plain and over TLS.
@Suite(
    "Hummingbird persistence in memcached",
    .enabled(if: Memcached.binary != nil, "memcached is not installed"))
struct MemcachePersistDriverTests {
    struct Profile: Codable, Equatable, Sendable {
        var name: String
        var visits: Int
    }

    /// A memcached, a pool on it and the driver; stopped after `body`.
    static func withDriver(
        tls: Bool, _ body: (MemcachePersistDriver<MemcachePool>, MemcachePool) async throws -> Void
    ) async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let memcached = try await Memcached(tls: tls, group: group)
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: memcached.port, tls: memcached.tls)
        configuration.pool.connectTimeout = .seconds(60)
        configuration.responseTimeout = .seconds(60)
        let pool = MemcachePool(configuration: configuration, group: group)
        do {
            try await body(MemcachePersistDriver(cache: pool), pool)
        } catch {
            await pool.shutdown()
            memcached.stop()
            throw error
        }
        await pool.shutdown()
        memcached.stop()
        try await group.shutdownGracefully()
    }

    @Test(
        "create, set, get, remove; create on an existing key is .duplicate; a wrong type is .invalidConversion",
        arguments: [false, true])
    func basics(tls: Bool) async throws {
        try await Self.withDriver(tls: tls) { persist, _ in
            let ada = Profile(name: "Ada", visits: 1)
            try await persist.create(key: "profile:ada", value: ada, expires: nil)
            #expect(try await persist.get(key: "profile:ada", as: Profile.self) == ada)
            await #expect(throws: PersistError.duplicate) {
                try await persist.create(key: "profile:ada", value: ada, expires: nil)
            }
            try await persist.set(key: "profile:ada", value: Profile(name: "Ada", visits: 2), expires: nil)
            #expect(try await persist.get(key: "profile:ada", as: Profile.self)?.visits == 2)
            await #expect(throws: PersistError.invalidConversion) {
                _ = try await persist.get(key: "profile:ada", as: [Int].self)
            }
            try await persist.remove(key: "profile:ada")
            #expect(try await persist.get(key: "profile:ada", as: Profile.self) == nil)
            try await persist.remove(key: "profile:ada") // removing what is gone is no error
            // A key memcached cannot take is a typed error, and nothing is sent.
            await #expect(throws: MemcacheError.self) {
                try await persist.set(key: "has space", value: 1, expires: nil)
            }
        }
    }

    @Test(
        "expiry: values expire; set without an expiry keeps the one the key has; getWithTTL reads it",
        arguments: [false, true])
    func expiry(tls: Bool) async throws {
        try await Self.withDriver(tls: tls) { persist, _ in
            try await persist.set(key: "short", value: "soon gone", expires: .seconds(1))
            try await persist.set(key: "kept", value: "first", expires: .seconds(600))
            try await persist.set(key: "kept", value: "second", expires: nil)
            let kept = try #require(try await persist.getWithTTL(key: "kept", as: String.self))
            #expect(kept.object == "second")
            let ttl = try #require(kept.ttl)
            #expect(ttl > .seconds(500) && ttl <= .seconds(600), "\(ttl)")
            try await persist.set(key: "forever", value: "x", expires: nil)
            #expect(try await persist.getWithTTL(key: "forever", as: String.self)?.ttl == nil)
            // memcached's clock has one-second steps: the value is gone within a few.
            var gone = false
            for _ in 0..<300 where !gone {
                gone = try await persist.get(key: "short", as: String.self) == nil
                if !gone { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(gone)
            #expect(MemcachePersistDriver<MemcachePool>.memcacheTTL(.milliseconds(1500)) == 2)
            #expect(MemcachePersistDriver<MemcachePool>.memcacheTTL(.zero) == -1)
            #expect(
                MemcachePersistDriver<MemcachePool>.memcacheTTL(.seconds(40 * 86400))
                    > Int(Date().timeIntervalSince1970))
            // "For ever" is memcached's last 32-bit time, not an overflow (it trapped).
            #expect(MemcachePersistDriver<MemcachePool>.memcacheTTL(.seconds(Int64.max)) == Int(Int32.max))
            #expect(MemcachePersistDriver<MemcachePool>.memcacheTTL(.seconds(Int64.min)) == -1)
            try await persist.set(key: "forever", value: "kept", expires: .seconds(Int64.max))
            #expect(try await persist.get(key: "forever", as: String.self) == "kept")
        }
    }

    @Test("sessions through the router: a login's session is found on the next request", arguments: [false, true])
    func sessions(tls: Bool) async throws {
        try await Self.withDriver(tls: tls) { persist, pool in
            let app = Application(router: ExampleApp.router(persist: persist, memcache: pool))
            try await app.test(.router) { client in
                try await client.execute(uri: "/me", method: .get) { #expect($0.status == .unauthorized) }
                let cookie = try await client.execute(uri: "/login?name=ada", method: .post) { response in
                    #expect(response.status == .ok)
                    return response.headers[.setCookie]
                }
                let session = try #require(cookie)
                try await client.execute(uri: "/me", method: .get, headers: [.cookie: session]) { response in
                    #expect(response.status == .ok)
                    #expect(String(buffer: response.body) == "ada")
                }
            }
        }
    }

    @Test("the cached endpoint over HTTP (live): 1,000 concurrent requests, one render, every body the same")
    func stampede() async throws {
        try await Self.withDriver(tls: false) { persist, pool in
            let app = Application(
                router: ExampleApp.router(persist: persist, memcache: pool),
                configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            let before = ExampleApp.renders.load(ordering: .relaxed)
            try await app.test(.live) { client in
                let bodies = try await withThrowingTaskGroup(of: String.self) { requests in
                    for _ in 0..<1000 {
                        requests.addTask {
                            try await client.execute(uri: "/reports/42", method: .get) { response in
                                #expect(response.status == .ok)
                                return String(buffer: response.body)
                            }
                        }
                    }
                    return try await requests.reduce(into: Set<String>()) { $0.insert($1) }
                }
                #expect(bodies.count == 1)
                #expect(bodies.first?.hasPrefix("report 42: ") == true)
            }
            #expect(ExampleApp.renders.load(ordering: .relaxed) - before == 1)
        }
    }
}
