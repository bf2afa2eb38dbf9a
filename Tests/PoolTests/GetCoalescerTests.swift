import Channels
import Codecs
import Foundation
import Testing

@testable import Pool

/// The coalescer on an embedded memcache pipeline: exact bytes out, replies routed per caller.
@Suite("Get coalescing")
struct GetCoalescerTests {
    typealias Outcome = LockedValue<[String: Result<MemcacheItem?, any Error>]>

    func start(_ keys: [(caller: String, key: MemcacheKey)], on connection: MemcacheConnection, outcomes: Outcome) {
        let coalescer = GetCoalescer()
        for (caller, key) in keys {
            coalescer.get(key, on: connection) { result in outcomes.withLock { $0[caller] = result } }
        }
    }

    @Test("gets of one loop turn leave as one multi-key gets; each caller gets its item or miss, duplicates included")
    func batch() throws {
        let channel = try EmbeddedChannel()
        try MemcacheConnection.addHandlers(to: channel)
        let connection = MemcacheConnection(channel: channel)
        let outcomes = Outcome([:])
        self.start([("a", "k1"), ("b", "k2"), ("c", "k1"), ("d", "k3")], on: connection, outcomes: outcomes)
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "gets k1 k2 k3\r\n"))
        try channel.writeInbound(ByteBuffer(string: "VALUE k1 7 3 42\r\none\r\nVALUE k3 0 5 43\r\nthree\r\nEND\r\n"))
        let results = outcomes.withLock { $0 }
        #expect(try results["a"]?.get() == MemcacheItem(key: Array("k1".utf8), flags: 7, cas: 42, value: ByteBuffer(string: "one")))
        #expect(try results["c"]?.get() == MemcacheItem(key: Array("k1".utf8), flags: 7, cas: 42, value: ByteBuffer(string: "one")))
        #expect(try results["b"]?.get() == .some(nil))
        #expect(try results["d"]?.get()?.value == ByteBuffer(string: "three"))
        #expect(try channel.finish().isClean)
    }

    @Test("a batch past 8 KiB of keys leaves as several multi-key gets, each answered to its own callers")
    func longBatchIsSplit() throws {
        let channel = try EmbeddedChannel()
        try MemcacheConnection.addHandlers(to: channel)
        let connection = MemcacheConnection(channel: channel)
        let outcomes = Outcome([:])
        // 60 keys of 200 bytes: 201 bytes each on the line, so 40 fit in 8 KiB and 20 follow.
        let keys = try (0..<60).map { index in try MemcacheKey(String(format: "%03d", index) + String(repeating: "k", count: 197)) }
        self.start(keys.enumerated().map { ("\($0.offset)", $0.element) }, on: connection, outcomes: outcomes)
        channel.embeddedEventLoop.run()
        var lines: [[Substring]] = []
        while var sent = try channel.readOutbound(as: ByteBuffer.self) {
            lines += sent.readString().split(separator: "\r\n").map { $0.split(separator: " ") }
        }
        #expect(lines.map(\.count) == [41, 21], "gets + 40 keys, then gets + 20 keys")
        #expect(lines.allSatisfy { $0.first == "gets" })
        try channel.writeInbound(ByteBuffer(string: "VALUE \(keys[0]) 0 1 1\r\na\r\nEND\r\nVALUE \(keys[59]) 0 1 2\r\nb\r\nEND\r\n"))
        let results = outcomes.withLock { $0 }
        #expect(results.count == 60)
        #expect(try results["0"]?.get()?.value == ByteBuffer(string: "a"))
        #expect(try results["59"]?.get()?.value == ByteBuffer(string: "b"))
        #expect(try results["30"]?.get() == .some(nil))
        #expect(try channel.finish().isClean)
    }

    @Test("a lone get goes out as meta mg")
    func single() throws {
        let channel = try EmbeddedChannel()
        try MemcacheConnection.addHandlers(to: channel)
        let outcomes = Outcome([:])
        self.start([("a", "k1")], on: MemcacheConnection(channel: channel), outcomes: outcomes)
        channel.embeddedEventLoop.run()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "mg k1 v f c\r\n"))
        try channel.writeInbound(ByteBuffer(string: "EN\r\n"))
        #expect(try outcomes.withLock { $0 }["a"]?.get() == .some(nil))
        #expect(try channel.finish().isClean)
    }

    @Test("a server error fails exactly the callers of that batch")
    func error() throws {
        let channel = try EmbeddedChannel()
        try MemcacheConnection.addHandlers(to: channel)
        let connection = MemcacheConnection(channel: channel)
        let outcomes = Outcome([:])
        self.start([("a", "k1"), ("b", "k2")], on: connection, outcomes: outcomes)
        channel.embeddedEventLoop.run()
        _ = try channel.readOutbound(as: ByteBuffer.self)
        self.start([("c", "k3")], on: connection, outcomes: outcomes)
        channel.embeddedEventLoop.run()
        _ = try channel.readOutbound(as: ByteBuffer.self)
        try channel.writeInbound(ByteBuffer(string: "SERVER_ERROR out of memory\r\nVA 1 f0 c9\r\nx\r\n"))
        let results = outcomes.withLock { $0 }
        #expect(throws: MemcacheError.self) { try results["a"]?.get() }
        #expect(throws: MemcacheError.self) { try results["b"]?.get() }
        #expect(try results["c"]?.get()?.value == ByteBuffer(string: "x"))
        #expect(try channel.finish().isClean)
    }

    @Test("items are matched to keys in request order with misses left out, and by key when a proxy reorders them")
    func matchingItems() throws {
        let keys = try ["a", "b", "c", "d"].map { try MemcacheKey($0) }
        func item(_ key: String) -> MemcacheItem {
            MemcacheItem(key: Array(key.utf8), flags: 0, cas: 1, value: ByteBuffer(string: "v-" + key))
        }
        func names(_ found: [MemcacheItem?]) -> [String] {
            found.map { $0.map { String(decoding: $0.key, as: UTF8.self) } ?? "-" }
        }
        #expect(names(GetCoalescer.match([item("a"), item("c")], to: keys)) == ["a", "-", "c", "-"])
        #expect(names(GetCoalescer.match([], to: keys)) == ["-", "-", "-", "-"])
        #expect(names(GetCoalescer.match([item("d"), item("a"), item("c")], to: keys)) == ["a", "-", "c", "d"])
        #expect(names(GetCoalescer.match([item("b"), item("zz"), item("a")], to: keys)) == ["a", "b", "-", "-"])
        #expect(GetCoalescer.match([item("c")], to: keys)[2]?.value == ByteBuffer(string: "v-c"))
    }
}
