import Channels
import Codecs
import TestSupport
import Testing

/// Requests of every kind, as a client would send them.
private let requests: [MemcacheRequest] = [
    .get(keys: ["a", "b"], withCAS: false),
    .get(keys: ["a"], withCAS: true),
    .getAndTouch(ttl: 30, keys: ["a"], withCAS: false),
    .getAndTouch(ttl: -1, keys: ["a", "c"], withCAS: true),
    .store(MemcacheStore(mode: .set, key: "k", flags: 9, ttl: 100, value: ByteBuffer(string: "v\r\nw"))),
    .store(MemcacheStore(mode: .add, key: "k", value: ByteBuffer(), noreply: true)),
    .store(MemcacheStore(mode: .replace, key: "k", value: ByteBuffer(string: "x"))),
    .store(MemcacheStore(mode: .append, key: "k", value: ByteBuffer(string: "x"))),
    .store(MemcacheStore(mode: .prepend, key: "k", value: ByteBuffer(string: "x"))),
    .store(MemcacheStore(mode: .cas(77), key: "k", value: ByteBuffer(string: "x"))),
    .delete(key: "k", noreply: false),
    .delete(key: "k", noreply: true),
    .arithmetic(key: "n", delta: 5, increment: true, noreply: false),
    .arithmetic(key: "n", delta: 5, increment: false, noreply: true),
    .touch(key: "k", ttl: 10, noreply: false),
    .flushAll(delay: nil, noreply: false),
    .flushAll(delay: 5, noreply: true),
    .version,
    .verbosity(level: 1, noreply: false),
    .stats(argument: nil),
    .stats(argument: "slabs"),
    .meta(.get("k", flags: [.returnValue, .returnFlags, .ttl(5)])),
    .meta(.set("k", value: ByteBuffer(string: "abc"), flags: [.mode("E"), .clientFlags(3)])),
    .meta(.delete("k", flags: [.quiet])),
    .meta(.arithmetic("n", flags: [.delta(2), .returnValue])),
    .meta(.noop),
    .meta(.debug("k")),
    .quit,
]

/// Replies of every kind.
private let responses: [MemcacheResponse] = [
    .values([
        MemcacheItem(key: Array("a".utf8), flags: 1, cas: nil, value: ByteBuffer(string: "x\r\ny")),
        MemcacheItem(key: Array("b".utf8), flags: 0, cas: 5, value: ByteBuffer()),
    ]),
    .end, .stored, .notStored, .exists, .notFound, .deleted, .touched, .ok, .number(18_446_744_073_709_551_615),
    .version("1.6.18"),
    .stats([MemcacheStat(name: "pid", value: "1"), MemcacheStat(name: "rusage_user", value: "0.1")]),
    .meta(MemcacheMetaResponse(status: .value, flags: [.clientFlags(3)], value: ByteBuffer(string: "abc"))),
    .meta(MemcacheMetaResponse(status: .headerOnly, flags: [.compareCAS(4)])),
    .meta(MemcacheMetaResponse(status: .miss)),
    .meta(MemcacheMetaResponse(status: .noop)),
    .error(MemcacheError(.clientError, "bad data chunk")),
    .error(MemcacheError(.serverError, "out of memory")),
]

@Suite("Memcache server-side codec")
struct MemcacheServerCodecTests {
    @Test("every request written by the client encoder reads back the same, at every byte boundary")
    func requestsRoundTrip() throws {
        var wire = ByteBuffer()
        for request in requests { try MemcacheRequestEncoder().encode(request, into: &wire) }
        let failure = try verifyDecoder(
            { MemcacheRequestDecoder() }, input: Array(wire.readableBytesView),
            expected: requests.map { MemcacheServerInput.request($0) })
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test("every reply written by the server encoder reads back the same, at every byte boundary")
    func responsesRoundTrip() throws {
        var wire = ByteBuffer()
        for response in responses { MemcacheResponseEncoder().encode(response, into: &wire) }
        let failure = try verifyDecoder(
            { MemcacheResponseDecoder() }, input: Array(wire.readableBytesView), expected: responses)
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test("binary keys read back from base64")
    func binaryKey() throws {
        let key = try MemcacheKey.binary([0, 255, 10])
        var wire = ByteBuffer()
        try MemcacheRequestEncoder().encode(.meta(.get(key, flags: [.returnValue])), into: &wire)
        let failure = try verifyDecoder(
            { MemcacheRequestDecoder() }, input: Array(wire.readableBytesView),
            expected: [.request(.meta(.get(key, flags: [.returnValue])))])
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test("bad commands are answered and the connection goes on, like memcached")
    func badCommands() throws {
        let input = "bogus\r\nget\r\nget a\u{1}b\r\nincr n x\r\nset k 0 0 z\r\nversion\r\n"
        let failure = try verifyDecoder(
            { MemcacheRequestDecoder() }, input: Array(input.utf8),
            expected: [
                .invalid(MemcacheError(.unknownCommand, "")),
                .invalid(MemcacheError(.clientError, "bad command line format")),
                .invalid(MemcacheError(.clientError, "bad command line format")),
                .invalid(MemcacheError(.clientError, "invalid numeric delta argument")),
                .invalid(MemcacheError(.clientError, "bad command line format")),
                .request(.version),
            ])
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test("an oversized value is read and dropped, answered with SERVER_ERROR, and the next command works")
    func oversizedValue() throws {
        let input = "set big 0 0 20\r\n01234567890123456789\r\nversion\r\n"
        let failure = try verifyDecoder(
            { MemcacheRequestDecoder(maximumValueLength: 10) }, input: Array(input.utf8),
            expected: [
                .invalid(MemcacheError(.serverError, "object too large for cache")),
                .request(.version),
            ])
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test("a data block longer than announced, or an endless line, closes the connection")
    func unrecoverable() throws {
        for input in ["set k 0 0 2\r\nabc\r\n", String(repeating: "x", count: 10_000)] {
            for (error, closed) in try decodingError({ MemcacheRequestDecoder() }, input: Array(input.utf8)) {
                #expect((error as? MemcacheError)?.code == .protocolViolation)
                #expect(closed)
            }
        }
    }
}
