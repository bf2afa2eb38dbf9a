import Channels
import Codecs
import Foundation
import TestSupport
import Testing

@testable import MemcacheServer

@Suite("Embedded server fast path")
struct FastPathTests {
    /// Requests of the shapes the fast path answers, against hits, misses, stale and
    /// recache-won items (which it must leave to the full path), with TTLs and noreply. The
    /// TTLs are long: under a sanitizer one split round has taken over 100 s.
    static let script = [
        "set a 5 0 3\nabc\n", "set b 0 86400 2\nhi\n", "set n 7 0 2 noreply\nno\n",
        "set big 1 0 300\n\(String(repeating: "x", count: 300))\n",
        "get a\n", "get a b nope n a\n", "gets a b\n", "get nope\n", "gets big\n",
        "mg a v\n", "mg a\n", "mg a v f c s t k\n", "mg b t s\n", "mg nope v\n", "mg nope k s\n", "mg n k v f\n",
        "mg hot v N3600\n", "mg hot v\n", "mg hot s\n", "ms hot 3\nnew\n", "mg hot v\n", "md hot I\n", "mg hot v c\n",
        "set a 9 0 4\nabcd\n", "gets a\n", "get a\n", "set e 0 -1 1\ne\n", "get e\n", "mg e v\n",
    ]

    @Test("every request gives the bytes the decoder's path gives, on twin stores")
    func sameBytesAsTheDecoderPath() throws {
        let viaFastPath = ServerScript()
        let viaDecoder = ServerScript()
        for request in Self.script {
            #expect(try viaFastPath.send(request, fast: true) == viaDecoder.send(request), "\(request)")
        }
        #expect(
            try viaFastPath.send("stats\n", fast: true).filter { !$0.isNumber }
                == viaDecoder.send("stats\n").filter { !$0.isNumber })
        // It did take the hot shapes, not leave them all to the decoder.
        let taken = Self.script.filter { viaFastPath.fastPathTakes($0) }
        #expect(taken.count >= 20, "the fast path took \(taken)")
    }

    @Test(
        "a multi-get on the fast path reads items in place: hits and misses counted, expired items gone, read items kept longest"
    )
    func multiGetInPlace() throws {
        let server = ServerScript(memoryLimit: 4 * 2_000, shardCount: 1) // one shard of 8,000 bytes
        let value = String(repeating: "v", count: 900)
        _ = try server.send("set k0 3 0 900\n\(value)\nset short 0 10 1\ns\n")
        for index in 1..<7 { _ = try server.send("set k\(index) 0 0 900\n\(value)\n") }
        // A read moves an item up only when its last use is a minute old or more (memcached's
        // rule), so these gets come after one.
        server.advance(seconds: 61)
        #expect(
            try server.send("gets k0 short nope k1\n", fast: true)
                == "VALUE k0 3 900 1\n\(value)\nVALUE k1 0 900 3\n\(value)\nEND\n")
        let statistics = server.store.snapshot().statistics
        #expect(statistics.getHits == 2)
        #expect(statistics.getMisses == 2) // the expired one and the absent one
        #expect(server.fastPathTakes("get k0\n"))
        // k0 and k1 were read last: with 7 items held, three more evict k2 and k3, the least
        // recently used.
        for index in 7..<10 { _ = try server.send("set k\(index) 0 0 900\n\(value)\n") }
        #expect(try server.send("get k2 k3\n", fast: true) == "END\n")
        #expect(try server.send("get k0\n", fast: true).hasPrefix("VALUE k0 3 900\n"))
        #expect(try server.send("get k1\n", fast: true).hasPrefix("VALUE k1 0 900\n"))
        // Read in place, the item was marked fetched (meta `h`) all the same.
        #expect(try server.send("mg k0 h\n") == "HD h1\n")
    }

    @Test("as in memcached, a get moves an item up the LRU only when its last use is a minute old or more")
    func bumpOncePerMinute() throws {
        let server = ServerScript(memoryLimit: 4 * 2_000, shardCount: 1) // 8 items of ~960 bytes fit
        let value = String(repeating: "v", count: 900)
        for index in 0..<8 { _ = try server.send("set k\(index) 0 0 900\n\(value)\n") }
        server.advance(seconds: 59)
        _ = try server.send("get k0\n", fast: true) // used 59 s ago: stays the least recently used
        _ = try server.send("set k8 0 0 900\n\(value)\n")
        #expect(try server.send("get k0\n", fast: true) == "END\n")
        server.advance(seconds: 1)
        _ = try server.send("get k1\n", fast: true) // used 60 s ago: moves up, k2 goes next
        _ = try server.send("set k9 0 0 900\n\(value)\n")
        #expect(try server.send("get k1 k2\n", fast: true).hasPrefix("VALUE k1 0 900\n\(value)\nEND"))
    }

    @Test("malformed requests and other shapes are left to the decoder, which knows memcached's errors")
    func leavesTheRest() throws {
        let server = ServerScript()
        _ = try server.send("set k 0 0 1\nv\n")
        let others = [
            "get\n", "get \n", "gets\n", "set k 0 0 x\nv\n", "set k 0 0\n", "set k 0 0 1 noreply extra\nv\n",
            "set k 0 0 1\nvv\n",
            "set k 4294967296 0 1\nv\n", "set k 0 0 2048\nshort\n", "mg k q v\n", "mg k O1\n", "mg k T30 v\n",
            "mg k vf\n", "mg\n",
            "gat 10 k\n", "delete k\n", "get \(String(repeating: "k", count: 251))\n", "get k\u{7f}\n", "get k",
            "set k 0 0 1\nv", "mg k v",
        ]
        for request in others {
            #expect(!server.fastPathTakes(request), "\(request)")
        }
    }

    @Test("requests split at random points over a real connection get the replies they get in one piece")
    func splitAnywhere() async throws {
        let fixture = try await EmbeddedServerFixture()
        let script = Array((Self.script.joined() + "quit\n").replacingOccurrences(of: "\n", with: "\r\n").utf8)
        let whole = try await exchangeUntilClose(
            with: fixture.server.localAddress, sending: script, group: fixture.group)
        var random = SplitMix64(seed: 11)
        for _ in 0..<3 {
            // Flush the previous round's items, so CAS values are the only difference.
            _ = try await exchangeUntilClose(
                with: fixture.server.localAddress, sending: Array("flush_all\r\nquit\r\n".utf8), group: fixture.group)
            var pieces: [[UInt8]] = []
            var start = 0
            while start < script.count {
                let end = min(script.count, start + Int.random(in: 1...40, using: &random))
                pieces.append(Array(script[start..<end]))
                start = end
            }
            let split = try await exchangeUntilClose(
                with: fixture.server.localAddress, sendingPieces: pieces, group: fixture.group)
            #expect(Self.withoutTTLs(split) == Self.withoutTTLs(whole))
        }
        try await fixture.stop()
    }

    /// Normalized reply lines with remaining TTLs masked: seconds pass between the rounds.
    static func withoutTTLs(_ bytes: [UInt8]) -> [String] {
        EmbeddedServerTests.normalized(bytes).map { line in
            line.split(separator: " ", omittingEmptySubsequences: false)
                .map {
                    $0.first == "t" && $0.count > 1 && $0.dropFirst().allSatisfy(\.isNumber) ? "t<ttl>" : String($0)
                }
                .joined(separator: " ")
        }
    }
}
