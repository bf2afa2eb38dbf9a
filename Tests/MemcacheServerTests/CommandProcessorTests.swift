import Channels
import Codecs
import Foundation
import TestSupport
import Testing

@testable import MemcacheServer

/// Drives the embedded server's command layer with wire bytes and checks the wire bytes it
/// answers, with an injected clock: no sockets, no sleeping.
final class ServerScript: @unchecked Sendable {
    // SAFETY: used by one test at a time, on the test's task only.
    let clock = LockedValue(1_800_000_000)
    let store: ItemStore
    private var decoder = MemcacheRequestDecoder(maximumValueLength: 1024)
    private let processor: CommandProcessor

    init(memoryLimit: Int = 1 << 20, shardCount: Int = 4) {
        let clock = self.clock
        self.store = ItemStore(memoryLimit: memoryLimit, maximumValueLength: 1024, shardCount: shardCount) {
            clock.withLock { $0 }
        }
        self.processor = CommandProcessor(store: self.store, counters: ServerCounters(loops: 1))
    }

    func advance(seconds: Int) { self.clock.withLock { $0 += seconds } }

    /// Sends `requests` (with `\n` standing for `\r\n`) and returns the replies the same way.
    /// With `fast`, as the server's handler runs them: the fast path first, the decoder for
    /// what it leaves.
    func send(_ requests: String, fast: Bool = false) throws -> String {
        var input = ByteBuffer(string: requests.replacingOccurrences(of: "\n", with: "\r\n"))
        var out = ByteBuffer()
        let now = self.store.clock()
        while input.readableBytes > 0 {
            if fast, !self.decoder.isDroppingValue,
                let taken = input.withUnsafeReadableBytes({ self.processor.processFast($0, now: now, into: &out) })
            {
                input.moveReaderIndex(forwardBy: taken)
                continue
            }
            guard let message = try self.decoder.decode(buffer: &input) else { break }
            _ = self.processor.process(message, into: &out)
        }
        return out.readString().replacingOccurrences(of: "\r\n", with: "\n")
    }

    /// Whether the fast path takes the first request of `request` (else the decoder does).
    func fastPathTakes(_ request: String) -> Bool {
        let input = ByteBuffer(string: request.replacingOccurrences(of: "\n", with: "\r\n"))
        var out = ByteBuffer()
        return input.withUnsafeReadableBytes { self.processor.processFast($0, now: self.store.clock(), into: &out) }
            != nil
    }
}

@Suite("Embedded server commands")
struct CommandProcessorTests {
    @Test("set, get, gets, add, replace, append, prepend, delete")
    func storage() throws {
        let server = ServerScript()
        #expect(try server.send("set a 5 0 3\nabc\nget a\n") == "STORED\nVALUE a 5 3\nabc\nEND\n")
        #expect(try server.send("add a 0 0 1\nx\nadd b 0 0 1\ny\n") == "NOT_STORED\nSTORED\n")
        #expect(try server.send("replace c 0 0 1\nz\nreplace b 0 0 2\nyy\n") == "NOT_STORED\nSTORED\n")
        #expect(
            try server.send("append a 0 0 2\nde\nprepend a 0 0 1\n_\nget a b c\n")
                == "STORED\nSTORED\nVALUE a 5 6\n_abcde\nVALUE b 0 2\nyy\nEND\n")
        #expect(try server.send("append nope 0 0 1\nx\n") == "NOT_STORED\n")
        #expect(try server.send("delete a\ndelete a\nget a\n") == "DELETED\nNOT_FOUND\nEND\n")
        #expect(try server.send("set q 0 0 1 noreply\nq\ndelete q noreply\nget q\n") == "END\n")
    }

    @Test("cas: the current value is stored, a stale or missing one refused")
    func cas() throws {
        let server = ServerScript()
        _ = try server.send("set k 0 0 1\nx\n")
        let line = try server.send("gets k\n").split(separator: "\n")[0]
        let unique = try #require(line.split(separator: " ").last)
        #expect(
            try server.send("cas k 0 0 1 \(unique)\ny\ncas k 0 0 1 \(unique)\nz\ncas nope 0 0 1 1\nq\n")
                == "STORED\nEXISTS\nNOT_FOUND\n")
        #expect(try server.send("get k\n") == "VALUE k 0 1\ny\nEND\n")
    }

    @Test("incr wraps at 2^64, decr stops at 0 and pads in place as memcached does; non-numbers are refused")
    func arithmetic() throws {
        let server = ServerScript()
        _ = try server.send("set n 0 0 2\n10\n")
        #expect(try server.send("decr n 1\nget n\n") == "9\nVALUE n 0 2\n9 \nEND\n")
        #expect(try server.send("incr n 18446744073709551615\n") == "8\n")
        #expect(try server.send("decr n 100\nincr nope 1\n") == "0\nNOT_FOUND\n")
        _ = try server.send("set s 0 0 3\nabc\n")
        #expect(try server.send("incr s 1\n") == "CLIENT_ERROR cannot increment or decrement non-numeric value\n")
        #expect(try server.send("incr n abc\n") == "CLIENT_ERROR invalid numeric delta argument\n")
    }

    @Test("TTLs: relative, absolute, negative; touch and gat move them; flush_all with a delay")
    func ttls() throws {
        let server = ServerScript()
        let now = server.clock.withLock { $0 }
        _ = try server.send("set rel 0 10 1\nr\nset abs 0 \(now + 5) 1\na\nset neg 0 -1 1\nn\nset keep 0 0 1\nk\n")
        #expect(try server.send("get neg\n") == "END\n")
        server.advance(seconds: 5)
        #expect(try server.send("get rel abs\n") == "VALUE rel 0 1\nr\nEND\n")
        #expect(try server.send("touch rel 100\ngat 100 keep\n") == "TOUCHED\nVALUE keep 0 1\nk\nEND\n")
        server.advance(seconds: 50)
        #expect(try server.send("get rel keep\n") == "VALUE rel 0 1\nr\nVALUE keep 0 1\nk\nEND\n")
        #expect(try server.send("flush_all 10\nget rel\n") == "OK\nVALUE rel 0 1\nr\nEND\n")
        server.advance(seconds: 10)
        #expect(try server.send("get rel keep\n") == "END\n")
        _ = try server.send("set after 0 0 1\nx\n")
        server.advance(seconds: 1)
        #expect(try server.send("get after\nflush_all\nget after\n") == "VALUE after 0 1\nx\nEND\nOK\nEND\n")
    }

    @Test("past the memory limit the least recently used items go first; an item over a shard's budget is refused")
    func eviction() throws {
        let server = ServerScript(memoryLimit: 4 * 2_000, shardCount: 1) // one shard of 8,000 bytes
        let value = String(repeating: "v", count: 900)
        for index in 0..<8 { _ = try server.send("set k\(index) 0 0 900\n\(value)\n") }
        // ~960 bytes each: 8 fit. Reading k0 makes k1 the least recently used.
        #expect(try server.send("get k0\n").hasPrefix("VALUE k0"))
        _ = try server.send("set k8 0 0 900\n\(value)\n")
        #expect(try server.send("get k1\n") == "END\n")
        #expect(try server.send("get k0\n").hasPrefix("VALUE k0"))
        #expect(server.store.snapshot().statistics.evictions == 1)
        let tiny = ServerScript(memoryLimit: 500, shardCount: 1)
        #expect(try tiny.send("set ok 0 0 400\n\(String(repeating: "o", count: 400))\n") == "STORED\n")
        // 460 bytes of value, 3 of key and 56 of overhead exceed the 500-byte shard; the old item goes too.
        #expect(
            try tiny.send("set ok 0 0 460\n\(String(repeating: "m", count: 460))\nget ok\n")
                == "SERVER_ERROR out of memory storing object\nEND\n")
    }

    @Test("meta get returns the flags asked for, in order; quiet hides misses; mn closes a batch")
    func metaGet() throws {
        let server = ServerScript()
        #expect(try server.send("ms m 5 T100 F9\nhello\n") == "HD\n")
        #expect(try server.send("mg m h l\nmg m h\n") == "HD h0 l0\nHD h1\n")
        #expect(try server.send("mg m s v f t k Oabc\n") == "VA 5 s5 f9 t100 km Oabc\nhello\n")
        #expect(try server.send("mg nope v q\nmg nope v k Ox\nmn\n") == "EN knope Ox\nMN\n")
        #expect(try server.send("mg m T5\nmg m t\n") == "HD\nHD t5\n")
    }

    @Test("meta set modes, CAS, quiet; meta delete and arithmetic")
    func metaWrites() throws {
        let server = ServerScript()
        #expect(try server.send("ms a 1 ME\nx\nms a 1 ME\ny\nms nope 1 MR\nz\nms nope 1 MA\nz\n") == "HD\nNS\nNS\nNS\n")
        #expect(try server.send("ms a 1 MA q\nz\nmg a v\n") == "VA 2\nxz\n")
        let cas = try #require(try server.send("mg a c\n").split(separator: "c").last.map { String($0.dropLast()) })
        #expect(try server.send("ms a 1 C1\nq\nms a 1 C\(cas) c\nr\n").hasPrefix("EX\nHD c"))
        #expect(try server.send("ms gone 1 C5\nq\n") == "NF\n")
        #expect(try server.send("md a q\nmd a q\nmd a\nmn\n") == "NF\nNF\nMN\n")
        #expect(
            try server.send("ma c\nma c N0 J10 v\nma c MD D3 v\nma c q\nma c v t\n")
                == "NF\nVA 2\n10\nVA 1\n7\nVA 1 t-1\n9\n")
        _ = try server.send("ms s 1\nx\n")
        #expect(
            try server.send("ma s\nma s MX\n")
                == "CLIENT_ERROR cannot increment or decrement non-numeric value\nCLIENT_ERROR invalid mode for ma\n")
    }

    @Test("vivify wins once; invalidation serves stale with one recache win")
    func recache() throws {
        let server = ServerScript()
        #expect(try server.send("mg hot v N30 t\nmg hot v N30\n") == "VA 0 t30 W\n\nVA 0 Z\n\n")
        #expect(
            try server.send("ms hot 3\nabc\nmd hot I\nmg hot v\nmg hot v\n") == "HD\nHD\nVA 3 X W\nabc\nVA 3 Z X\nabc\n"
        )
        #expect(try server.send("ms hot 3\nnew\nmg hot v\n") == "HD\nVA 3\nnew\n")
    }

    @Test("binary keys come back base64-encoded with b")
    func binaryKeys() throws {
        let server = ServerScript()
        // "AAE=" is the bytes 0x00 0x01.
        #expect(try server.send("ms AAE= 2 b\nhi\nmg AAE= b k v\n") == "HD\nVA 2 kAAE= b\nhi\n")
    }

    @Test("bad commands get memcached's errors and the connection goes on")
    func errors() throws {
        let server = ServerScript()
        #expect(
            try server.send("bogus\nget\nset k 0 0 x\nversion\n")
                == "ERROR\nCLIENT_ERROR bad command line format\nCLIENT_ERROR bad command line format\nVERSION 1.6.18-mcpool\n"
        )
        #expect(
            try server.send("set big 0 0 2000\n\(String(repeating: "b", count: 2000))\nget big\n")
                == "SERVER_ERROR object too large for cache\nEND\n")
        #expect(try server.send("stats nonsense\nverbosity 1\n") == "ERROR\nOK\n")
    }
}
