import Channels
import Codecs
import Foundation
import TestSupport
import Testing

@testable import MemcacheClient
@testable import Pool

/// Ejection at the first failure, for an hour: a retry window far beyond a sanitizer's
/// stalls (a 30 s one lapsed mid-test in a ThreadSanitizer CI run, and the down server took
/// its keys back).
let ejectAtFirstFailure: MemcacheEjectionPolicy = {
    var policy = MemcacheEjectionPolicy()
    policy.failureLimit = 1
    policy.retryAfter = .seconds(3600)
    policy.maximumRetryAfter = .seconds(3600)
    return policy
}()

/// Builds `Fixtures/ketama/ketama-reference.c` against the system's libmemcached (Debian
/// package libmemcached-dev; scripts/test.sh installs it) and returns the binary's path.
/// Each call builds its own copy (a second of compiling; no shared state between tests).
func ketamaReference() async throws -> String {
    guard let compiler = findExecutable(["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang"]) else {
        throw TestSupportError("no C compiler (scripts/test.sh installs gcc)")
    }
    let flags = try await runProcess("/usr/bin/pkg-config", ["--cflags", "--libs", "libmemcached"])
        .split(whereSeparator: \.isWhitespace).map(String.init)
    let output = FileManager.default.temporaryDirectory
        .appendingPathComponent("ketama-reference-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    _ = try await runProcess(compiler, [fixturePath("ketama/ketama-reference.c"), "-o", output] + flags)
    return output
}

@Suite("Ketama placement, compatible with libmemcached")
struct KetamaRingTests {
    @Test("MD5 matches the RFC 1321 test vectors")
    func md5() {
        func hex(_ text: String) -> String { MD5.digest(Array(text.utf8)).map { String(format: "%02x", $0) }.joined() }
        #expect(hex("") == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(hex("abc") == "900150983cd24fb0d6963f7d28e17f72")
        #expect(hex("message digest") == "f96b697d7cb7938d525a2f31aaf161d0")
        #expect(
            hex("12345678901234567890123456789012345678901234567890123456789012345678901234567890")
                == "57edf4a22be3c955ac49da2e2107b67a")
        // A collection without contiguous storage, and the first word alone (little-endian).
        #expect(MD5.digest(Array("abc".utf8).lazy.map { $0 }) == MD5.digest(Array("abc".utf8)))
        #expect(MD5.firstWord(Array("abc".utf8).lazy.map { $0 }) == 0x9850_0190)
        #expect(MD5.firstWord(Array("abc".utf8)) == 0x9850_0190)
    }

    @Test("10,000 keys land where libmemcached's ketama puts them, over 3 and over 4 servers", arguments: [3, 4])
    func matchesLibmemcached(serverCount: Int) async throws {
        let all: [(host: String, port: Int)] = [
            ("127.0.0.1", 11211), ("127.0.0.1", 11212), ("10.0.0.3", 11211), ("cache-4.example", 22122),
        ]
        let servers = Array(all.prefix(serverCount))
        let keys = (0..<10_000).map { "key:\($0):\($0 &* 2_654_435_761 % 1_000_003)" }
        let reference = try await runProcess(
            try await ketamaReference(), servers.map { "\($0.host):\($0.port)" },
            input: keys.joined(separator: "\n") + "\n"
        ).split(separator: "\n").map(String.init)
        try #require(reference.count == keys.count)
        let ring = KetamaRing(servers: servers)
        var mismatches = 0
        for (key, expected) in zip(keys, reference) {
            let server = servers[ring.serverIndex(for: Array(key.utf8))]
            if "\(server.host):\(server.port)" != expected { mismatches += 1 }
        }
        #expect(mismatches == 0)
        // And the keys spread: every server holds a fair share.
        var counts = [Int](repeating: 0, count: serverCount)
        for key in keys { counts[ring.serverIndex(for: Array(key.utf8))] += 1 }
        #expect(counts.allSatisfy { $0 > 10_000 / serverCount / 2 })
    }
}

extension KetamaRingTests {
    @Test(
        "10,000 keys over servers of unequal weights land where libmemcached's weighted ketama puts them",
        arguments: [[1, 2, 3], [5, 1, 1, 2], [1, 1, 1, 7], [3, 3, 1]])
    func weightedMatchesLibmemcached(weights: [Int]) async throws {
        let hosts: [(host: String, port: Int)] = [
            ("127.0.0.1", 11211), ("127.0.0.1", 11212), ("10.0.0.3", 11211), ("cache-4.example", 22122),
        ]
        let servers = zip(hosts, weights).map { (host: $0.host, port: $0.port, weight: $1) }
        let keys = (0..<10_000).map { "weighted:\($0):\($0 &* 40_503 % 65_521)" }
        let reference = try await runProcess(
            try await ketamaReference(), servers.map { "\($0.host):\($0.port):\($0.weight)" },
            input: keys.joined(separator: "\n") + "\n"
        ).split(separator: "\n").map(String.init)
        try #require(reference.count == keys.count)
        let ring = KetamaRing(weightedServers: servers)
        var counts = [Int](repeating: 0, count: servers.count)
        var mismatches = 0
        for (key, expected) in zip(keys, reference) {
            let index = ring.serverIndex(for: Array(key.utf8))
            counts[index] += 1
            if "\(servers[index].host):\(servers[index].port)" != expected { mismatches += 1 }
        }
        #expect(mismatches == 0)
        // Heavier servers hold more keys.
        let heaviest = weights.indices.max { weights[$0] < weights[$1] } ?? 0
        let lightest = weights.indices.min { weights[$0] < weights[$1] } ?? 0
        #expect(weights[heaviest] == weights[lightest] || counts[heaviest] > counts[lightest], "\(counts)")
    }

    @Test("points per server follow libmemcached's single-precision arithmetic")
    func pointCounts() {
        #expect(KetamaRing.pointCount(weight: 1, totalWeight: 3, servers: 3) == 160)
        #expect(KetamaRing.pointCount(weight: 1, totalWeight: 7, servers: 7) == 160)
        #expect(KetamaRing.pointCount(weight: 3, totalWeight: 6, servers: 3) == 240)
        #expect(KetamaRing.pointCount(weight: 1, totalWeight: 6, servers: 3) == 80)
    }

    @Test("weights past 32 bits count as UInt32.max, so no total overflows (Int.max each trapped)")
    func hugeWeights() {
        let ring = KetamaRing(weightedServers: [
            ("10.0.0.1", 11211, .max), ("10.0.0.2", 11211, .max), ("10.0.0.3", 11211, 0),
        ])
        let equal = KetamaRing(weightedServers: [
            ("10.0.0.1", 11211, Int(UInt32.max)), ("10.0.0.2", 11211, Int(UInt32.max)), ("10.0.0.3", 11211, 1),
        ])
        for key in ["a", "b", "user:42", "session:7"] {
            #expect(ring.serverIndex(for: Array(key.utf8)) == equal.serverIndex(for: Array(key.utf8)))
        }
    }
}

@Suite(
    "MemcacheServerSet against 3 real memcached",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct MemcacheServerSetTests {
    @Test("every key is stored on the server the placement names")
    func placementOnRealServers() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        var memcached: [MemcachedServer] = []
        for _ in 0..<3 { memcached.append(try await MemcachedServer(group: group)) }
        let servers = memcached.map { (host: "127.0.0.1", port: $0.port) }
        let set = MemcacheServerSet(servers: servers, group: group, configure: waitPatiently)
        let keys = (0..<300).map { "placed-\($0)" }
        for key in keys { try await set.set(MemcacheKey(key), to: ByteBuffer(string: key)) }
        let reference = try await runProcess(
            try await ketamaReference(), servers.map { "\($0.host):\($0.port)" },
            input: keys.joined(separator: "\n") + "\n"
        ).split(separator: "\n").map(String.init)
        var direct: [MemcacheConnection] = []
        for server in memcached {
            direct.append(try await MemcacheConnection.connect(host: "127.0.0.1", port: server.port, group: group))
        }
        var misplaced = 0
        for (key, expected) in zip(keys, reference) {
            for (index, connection) in direct.enumerated() {
                let present = try await connection.get(MemcacheKey(key)) != nil
                let shouldBe = "127.0.0.1:\(memcached[index].port)" == expected
                if present != shouldBe { misplaced += 1 }
            }
        }
        #expect(misplaced == 0)
        #expect(try await set.getMany(keys.map { try MemcacheKey($0) }).count == keys.count)
        for connection in direct { try await connection.close() }
        await set.shutdown()
        for server in memcached { server.stop() }
        try await group.shutdownGracefully()
    }

    @Test("a server down: failFast fails only its keys; rehash moves them to the others")
    func serverDown() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        var memcached: [MemcachedServer] = []
        for _ in 0..<3 { memcached.append(try await MemcachedServer(group: group)) }
        let servers = memcached.map { (host: "127.0.0.1", port: $0.port) }
        let strict = MemcacheServerSet(
            servers: servers, group: group, failurePolicy: .failFast, configure: waitPatiently)
        let moving = MemcacheServerSet(
            servers: servers, group: group, failurePolicy: .rehash, ejection: ejectAtFirstFailure,
            configure: waitPatiently)
        memcached[1].stop()
        var failedOnDown = 0
        var failedElsewhere = 0
        for index in 0..<60 {
            let key = try MemcacheKey("k-\(index)")
            do {
                try await strict.set(key, to: ByteBuffer(string: "v"))
            } catch let error as MemcacheError where error.code == .connectFailed {
                if strict.serverIndex(for: key) == 1 { failedOnDown += 1 } else { failedElsewhere += 1 }
            }
            try await moving.set(key, to: ByteBuffer(string: "v"))
            #expect(try await moving.get(key) == ByteBuffer(string: "v"))
            #expect(moving.serverIndex(for: key) != 1)
        }
        #expect(failedOnDown > 0 && failedElsewhere == 0)
        await strict.shutdown()
        await moving.shutdown()
        for server in memcached { server.stop() }
        try await group.shutdownGracefully()
    }
}
