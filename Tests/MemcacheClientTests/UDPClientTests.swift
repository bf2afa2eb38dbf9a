import Channels
import Codecs
import Foundation
import MemcacheClient
import TestSupport
import Testing

@Suite("MemcacheUDPClient against memcached -U")
struct UDPClientTests {
    private static let patient = MemcacheUDPClient.Configuration(responseTimeout: testPatience)

    /// A value that names its key, so a reply given to the wrong caller shows.
    private static func value(of key: String, size: Int) -> ByteBuffer {
        var buffer = ByteBuffer(string: "\(key)=")
        buffer.writeBytes(repeatElement(UInt8(ascii: "v"), count: max(0, size - buffer.readableBytes)))
        return buffer
    }

    @Test(
        "get, gets and multi-get over UDP, text and meta, with replies of one and of many datagrams",
        arguments: [MemcacheProtocol.meta, .text])
    func readsOverUDP(wireProtocol: MemcacheProtocol) async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let memcached = try await MemcachedServer(udp: true, group: group)
        defer { memcached.stop() }
        let tcp = try await MemcacheConnection.connect(host: "127.0.0.1", port: memcached.port, group: group)
        let sizes = ["small": 10, "three-datagrams": 3000, "big": 100_000]
        for (key, size) in sizes { try await tcp.set(key, to: Self.value(of: key, size: size), flags: 7) }
        var configuration = Self.patient
        configuration.wireProtocol = wireProtocol
        let udp = try await MemcacheUDPClient.connect(
            host: "127.0.0.1", port: memcached.port, group: group, configuration: configuration)
        for (key, size) in sizes {
            #expect(try await udp.get(key) == Self.value(of: key, size: size))
            let item = try #require(try await udp.getItem(key))
            #expect(item.flags == 7)
            #expect(item.cas != nil)
        }
        #expect(try await udp.get("missing") == nil)
        let many = try await udp.getMany(Array(sizes.keys) + ["missing"])
        #expect(
            many == Dictionary(uniqueKeysWithValues: sizes.map { ($0.key, Self.value(of: $0.key, size: $0.value)) }))
        try await udp.close()
        try await tcp.channel.close().get()
    }

    @Test("1,000 callers (32 at a time) get their own values: 0 wrong; writes and errors are typed")
    func concurrentCallersAndErrors() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let memcached = try await MemcachedServer(udp: true, group: group)
        defer { memcached.stop() }
        let udp = try await MemcacheUDPClient.connect(
            to: memcached.address, group: group, configuration: Self.patient)
        for index in 0..<100 {
            try await udp.set("key\(index)", to: Self.value(of: "key\(index)", size: 100 + index * 20))
        }
        let wrong = try await withThrowingTaskGroup(of: Int.self) { tasks in
            var wrong = 0
            for caller in 0..<1_000 {
                if caller >= 32, let result = try await tasks.next() { wrong += result }
                tasks.addTask {
                    let index = caller % 100
                    let value = try await udp.get("key\(index)")
                    return value == Self.value(of: "key\(index)", size: 100 + index * 20) ? 0 : 1
                }
            }
            for try await result in tasks { wrong += result }
            return wrong
        }
        #expect(wrong == 0)
        try await udp.set("text", to: ByteBuffer(string: "not a number"))
        do {
            _ = try await udp.increment("text")
            Issue.record("incr of a non-number succeeded")
        } catch let error as MemcacheError {
            #expect(error.code == .clientError)
        }
        #expect(try await udp.delete("key1"))
        #expect(try await udp.get("key1") == nil)
        await #expect(throws: MemcacheError.self) {
            try await udp.set("huge", to: ByteBuffer(bytes: [UInt8](repeating: 1, count: 70_000)))
        }
        await #expect(throws: MemcacheError.self) {
            _ = try await udp.setMany(["a": ByteBuffer(string: "1")])
        }
        // The client still works after each refusal.
        #expect(try await udp.get("key2") == Self.value(of: "key2", size: 140))
        try await udp.close()
    }

    @Test(
        "2,000 callers at once, 1 KB values: every reply arrives (64 in flight fit the socket's receive buffer, the rest wait)"
    )
    func burstFitsReceiveBuffer() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let memcached = try await MemcachedServer(udp: true, group: group)
        defer { memcached.stop() }
        let udp = try await MemcacheUDPClient.connect(
            to: memcached.address, group: group, configuration: Self.patient)
        for index in 0..<50 { try await udp.set("burst\(index)", to: Self.value(of: "burst\(index)", size: 1_000)) }
        // All at once: with no window (maximumRequestsInFlight 60,000) 2 MB of replies arrive
        // together, beyond the 1 MiB receive buffer the client asks for, the kernel drops
        // some and their calls time out (seen: every run failed, with a 3 s timeout).
        let wrong = try await withThrowingTaskGroup(of: Int.self) { tasks in
            for caller in 0..<2_000 {
                tasks.addTask {
                    let key = "burst\(caller % 50)"
                    return try await udp.get(key) == Self.value(of: key, size: 1_000) ? 0 : 1
                }
            }
            return try await tasks.reduce(0, +)
        }
        #expect(wrong == 0)
        try await udp.close()
    }

    @Test("a silent peer: 100 concurrent calls each time out (one timer for them all), and the client lives on")
    func silentPeer() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let silent = try await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0)
        let udp = try await MemcacheUDPClient.connect(
            to: try #require(silent.localAddress), group: group,
            configuration: .init(responseTimeout: .milliseconds(200)))
        for _ in 0..<2 {
            let codes = try await withThrowingTaskGroup(of: MemcacheError.Code?.self) { tasks in
                for index in 0..<100 {
                    tasks.addTask {
                        do {
                            _ = try await udp.get("key\(index)")
                            return nil
                        } catch let error as MemcacheError {
                            return error.code
                        }
                    }
                }
                return try await tasks.reduce(into: [MemcacheError.Code?]()) { $0.append($1) }
            }
            #expect(codes.count == 100)
            #expect(codes.allSatisfy { $0 == .timeout })
        }
        try await udp.close()
        try await silent.close().get()
    }

    @Test("a killed server fails calls with typed errors; the same client works again when it returns")
    func serverRestart() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let memcached = try await MemcachedServer(udp: true, group: group)
        let port = memcached.port
        let quick = MemcacheUDPClient.Configuration(responseTimeout: .seconds(2))
        let udp = try await MemcacheUDPClient.connect(to: memcached.address, group: group, configuration: quick)
        let patient = try await MemcacheUDPClient.connect(
            to: memcached.address, group: group, configuration: Self.patient)
        try await patient.set("k", to: ByteBuffer(string: "v"))
        memcached.stop()
        do {
            _ = try await udp.get("k")
            Issue.record("a get from a stopped server succeeded")
        } catch let error as MemcacheError {
            // ICMP port unreachable, or (were it lost) the response timeout.
            #expect(error.code == .connectFailed || error.code == .timeout)
        }
        let restarted = try await MemcachedServer(port: port, udp: true, group: group)
        defer { restarted.stop() }
        try await patient.set("k", to: ByteBuffer(string: "again"))
        #expect(try await patient.get("k") == ByteBuffer(string: "again"))
        try await udp.close()
        try await patient.close()
    }

    @Test(
        "lost reply datagrams (nftables drop in a namespace) fail only their own requests, with typed errors",
        .enabled(if: NetworkNamespace.unavailableReason == nil))
    func lostDatagrams() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let binary = try #require(MemcachedServer.binary)
        try await NetworkNamespace.with { namespace in
            let remote = try namespace.spawn(
                binary, ["-l", namespace.innerAddress, "-p", "11211", "-U", "11211", "-t", "1", "-u", "root"])
            defer { remote.kill() }
            let patient = try await MemcacheUDPClient.connect(
                host: namespace.innerAddress, port: 11211, group: group, configuration: Self.patient)
            // memcached may still be starting: the first stores retry (bounded).
            for index in 0..<20 {
                let key = "lossy\(index)"
                var stored = false
                for _ in 0..<100 where !stored {
                    stored = (try? await patient.set(key, to: Self.value(of: key, size: 3000))) != nil
                    if !stored { try await Task.sleep(for: .milliseconds(100)) }
                }
                #expect(stored)
            }
            // A quarter of memcached's reply datagrams vanish; each reply has three.
            try await namespace.inside(
                "/usr/sbin/nft",
                [
                    "add", "rule", "inet", "faults", "output", "udp", "sport", "11211", "numgen", "random", "mod", "4",
                    "==", "0", "drop",
                ])
            let lossy = try await MemcacheUDPClient.connect(
                host: namespace.innerAddress, port: 11211, group: group,
                configuration: .init(responseTimeout: .milliseconds(500)))
            var succeeded = 0
            var failed = 0
            for index in 0..<30 {
                let key = "lossy\(index % 20)"
                do {
                    let value = try await lossy.get(key)
                    #expect(value == Self.value(of: key, size: 3000))
                    succeeded += 1
                } catch let error as MemcacheError {
                    #expect(error.code == .timeout || error.code == .datagramLost, "\(error)")
                    failed += 1
                }
            }
            // Every reply that came was whole and right (above); some were lost. (How many
            // succeed depends on timing: under a sanitizer's stall every call can time out.)
            #expect(failed > 0)
            #expect(succeeded + failed == 30)
            try await namespace.clear()
            // Nothing else was lost: every key reads whole again, on the same socket.
            for index in 0..<20 {
                let key = "lossy\(index)"
                #expect(try await patient.get(key) == Self.value(of: key, size: 3000))
            }
            try await lossy.close()
            try await patient.close()
        }
    }
}
