import Channels
import Codecs
import Testing

private func wire(_ request: MemcacheRequest) throws -> String {
    var buffer = ByteBuffer()
    try MemcacheRequestEncoder().encode(request, into: &buffer)
    return buffer.readString()
}

@Suite("Memcache request encoder")
struct MemcacheRequestEncoderTests {
    @Test("text commands, byte for byte")
    func textCommands() throws {
        let key: MemcacheKey = "k"
        #expect(try wire(.get(keys: ["a", "b"], withCAS: false)) == "get a b\r\n")
        #expect(try wire(.get(keys: [key], withCAS: true)) == "gets k\r\n")
        #expect(try wire(.getAndTouch(ttl: 30, keys: [key], withCAS: true)) == "gats 30 k\r\n")
        #expect(
            try wire(.store(MemcacheStore(mode: .set, key: key, flags: 5, ttl: 60, value: ByteBuffer(string: "v\r\n"))))
                == "set k 5 60 3\r\nv\r\n\r\n")
        #expect(
            try wire(.store(MemcacheStore(mode: .cas(99), key: key, value: ByteBuffer(), noreply: true)))
                == "cas k 0 0 0 99 noreply\r\n\r\n")
        #expect(
            try wire(.store(MemcacheStore(mode: .prepend, key: key, value: ByteBuffer(string: "x"))))
                == "prepend k 0 0 1\r\nx\r\n")
        #expect(try wire(.delete(key: key, noreply: false)) == "delete k\r\n")
        #expect(
            try wire(.arithmetic(key: key, delta: 18_446_744_073_709_551_615, increment: true, noreply: false))
                == "incr k 18446744073709551615\r\n")
        #expect(try wire(.arithmetic(key: key, delta: 2, increment: false, noreply: true)) == "decr k 2 noreply\r\n")
        #expect(try wire(.touch(key: key, ttl: -1, noreply: false)) == "touch k -1\r\n")
        #expect(try wire(.flushAll(delay: nil, noreply: false)) == "flush_all\r\n")
        #expect(try wire(.flushAll(delay: 10, noreply: true)) == "flush_all 10 noreply\r\n")
        #expect(try wire(.version) == "version\r\n")
        #expect(try wire(.verbosity(level: 1, noreply: false)) == "verbosity 1\r\n")
        #expect(try wire(.stats(argument: nil)) == "stats\r\n")
        #expect(try wire(.stats(argument: "slabs")) == "stats slabs\r\n")
    }

    @Test("expiries go within memcached's 32 bits: past them it stores the item and drops it at once")
    func expiriesWithin32Bits() throws {
        let key: MemcacheKey = "k"
        let later = Int(Int32.max) + 1
        #expect(
            try wire(.store(MemcacheStore(mode: .set, key: key, ttl: later, value: ByteBuffer(string: "v"))))
                == "set k 0 2147483647 1\r\nv\r\n")
        #expect(try wire(.touch(key: key, ttl: .max, noreply: false)) == "touch k 2147483647\r\n")
        #expect(try wire(.getAndTouch(ttl: .min, keys: [key], withCAS: false)) == "gat -2147483648 k\r\n")
        #expect(
            try wire(.meta(.get(key, flags: [.ttl(later), .vivify(ttl: later)]))) == "mg k T2147483647 N2147483647\r\n")
        #expect(try wire(.meta(.get(key, flags: [.ttl(-1)]))) == "mg k T-1\r\n")
    }

    @Test("meta commands with their flags, byte for byte")
    func metaCommands() throws {
        let key: MemcacheKey = "k"
        #expect(
            try wire(.meta(.get(key, flags: [.returnValue, .returnFlags, .returnCAS, .ttl(30)])))
                == "mg k v f c T30\r\n")
        #expect(
            try wire(.meta(.set(key, value: ByteBuffer(string: "abc"), flags: [.mode("E"), .clientFlags(7)])))
                == "ms k 3 ME F7\r\nabc\r\n")
        #expect(try wire(.meta(.delete(key, flags: [.quiet]))) == "md k q\r\n")
        #expect(try wire(.meta(.arithmetic(key, flags: [.mode("D"), .delta(5), .returnValue]))) == "ma k MD D5 v\r\n")
        #expect(try wire(.meta(.noop)) == "mn\r\n")
        #expect(try wire(.meta(.debug(key))) == "me k\r\n")
        #expect(
            try wire(.meta(.get(key, flags: [.vivify(ttl: 30), .recache(below: 5), try .opaque("x1")])))
                == "mg k N30 R5 Ox1\r\n")
        #expect(
            try wire(
                .metaBatch([.get("a", flags: [.returnValue, .returnKey]), .get("b", flags: [.returnValue, .quiet])]))
                == "mg a v k q\r\nmg b v q\r\nmn\r\n")
    }

    @Test("binary keys are base64 with the b flag in meta, and refused in text")
    func binaryKeys() throws {
        let key = try MemcacheKey.binary([0xff, 0x00, 0x0a])
        #expect(try wire(.meta(.get(key, flags: [.returnValue]))) == "mg /wAK b v\r\n")
        #expect(throws: MemcacheError.self) { try wire(.get(keys: [key], withCAS: false)) }
    }

    @Test("get's request written from its key is the encoder's mg … v, byte for byte")
    func valueGet() throws {
        for key in [MemcacheKey("k"), MemcacheKey("user:42"), try MemcacheKey.binary([0xff, 0x00, 0x0a])] {
            var direct = ByteBuffer(string: "before ")
            MemcacheRequestEncoder.writeValueGet(key, into: &direct)
            #expect(direct.readString() == "before " + (try wire(.meta(.get(key, flags: [.returnValue])))))
        }
        var binary = ByteBuffer()
        MemcacheRequestEncoder.writeValueGet(try MemcacheKey.binary([0xff, 0x00, 0x0a]), into: &binary)
        #expect(binary.readString() == "mg /wAK b v\r\n")
        // The longest key into a buffer with no room, and into one whose storage another
        // buffer shares (which must keep its bytes).
        let longest = try MemcacheKey(String(repeating: "k", count: MemcacheKey.maximumLength))
        var empty = ByteBuffer()
        MemcacheRequestEncoder.writeValueGet(longest, into: &empty)
        #expect(empty.readString() == "mg \(String(repeating: "k", count: MemcacheKey.maximumLength)) v\r\n")
        var shared = ByteBuffer(string: "x")
        shared.reserveCapacity(minimumWritableBytes: 64)
        let other = shared
        MemcacheRequestEncoder.writeValueGet(MemcacheKey("a"), into: &shared)
        #expect(shared.readString() == "xmg a v\r\n")
        #expect(other.getString(at: other.readerIndex, length: other.readableBytes) == "x")
    }

    @Test("a meta flag token cannot inject a command")
    func flagInjection() {
        #expect(throws: MemcacheError.self) { try MemcacheMetaFlag.opaque("x\r\nflush_all") }
        #expect(throws: MemcacheError.self) { try MemcacheMetaFlag(letter: "1") }
        #expect(throws: MemcacheError.self) { try wire(.stats(argument: "items\r\nflush_all")) }
    }
}
