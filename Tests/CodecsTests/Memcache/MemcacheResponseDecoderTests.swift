import Channels
import Codecs
import TestSupport
import Testing

private func decodes(_ input: String, to expected: [MemcacheResponse]) throws -> String? {
    try verifyDecoder({ MemcacheResponseDecoder() }, input: Array(input.utf8), expected: expected)
}

private func meta(_ status: MemcacheMetaResponse.Status, _ flags: [(Character, String)] = [], value: String? = nil)
    -> MemcacheResponse
{
    .meta(
        MemcacheMetaResponse(
            status: status,
            flags: flags.map { try! MemcacheMetaFlag(letter: $0.0, token: $0.1) },
            value: value.map { ByteBuffer(string: $0) }))
}

@Suite("Memcache response decoder")
struct MemcacheResponseDecoderTests {
    @Test("every text reply, at every byte boundary")
    func textReplies() throws {
        let input =
            "STORED\r\nNOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\nDELETED\r\nTOUCHED\r\nOK\r\n42\r\n7  \r\nVERSION 1.6.18\r\nEND\r\n"
        let failure = try decodes(
            input,
            to: [
                .stored, .notStored, .exists, .notFound, .deleted, .touched, .ok, .number(42), .number(7),
                .version("1.6.18"), .end,
            ])
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test("multi-key VALUE replies with binary data, CAS, and an empty value")
    func values() throws {
        let input = "VALUE a 5 3\r\nx\r\n\r\nVALUE b 0 0 99\r\n\r\nEND\r\n"
        let failure = try decodes(
            input,
            to: [
                .values([
                    MemcacheItem(key: Array("a".utf8), flags: 5, cas: nil, value: ByteBuffer(string: "x\r\n")),
                    MemcacheItem(key: Array("b".utf8), flags: 0, cas: 99, value: ByteBuffer()),
                ])
            ])
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test("stats lines closed by END")
    func stats() throws {
        let failure = try decodes(
            "STAT pid 1\r\nSTAT version 1.6.18\r\nEND\r\n",
            to: [
                .stats([MemcacheStat(name: "pid", value: "1"), MemcacheStat(name: "version", value: "1.6.18")])
            ])
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test("meta replies: VA with value and flags, HD, EN, NF, NS, EX, MN")
    func metaReplies() throws {
        let input = "VA 2 f5 c9 t-1\r\nhi\r\nHD c10 W\r\nEN\r\nNF\r\nNS\r\nEX\r\nMN\r\n"
        let failure = try decodes(
            input,
            to: [
                meta(.value, [("f", "5"), ("c", "9"), ("t", "-1")], value: "hi"),
                meta(.headerOnly, [("c", "10"), ("W", "")]),
                meta(.miss), meta(.notFound), meta(.notStored), meta(.exists), meta(.noop),
            ])
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test("error replies are values for their request, not stream errors")
    func errorReplies() throws {
        let failure = try decodes(
            "ERROR\r\nCLIENT_ERROR bad data chunk\r\nSERVER_ERROR object too large for cache\r\nSTORED\r\n",
            to: [
                .error(MemcacheError(.unknownCommand, "the server does not know the command")),
                .error(MemcacheError(.clientError, "bad data chunk")),
                .error(MemcacheError(.serverError, "object too large for cache")),
                .stored,
            ])
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test(
        "malformed replies close the stream with a typed error",
        arguments: [
            "VALUE a 0 3\r\nabcdef\r\n", // value longer than announced
            "VALUE a 0 x\r\nabc\r\n", // bad length
            "VALUE a 0 -1\r\n\r\n", // negative length
            "STORED\n", // missing \r
            "HELLO\r\n", // garbage word
            "\u{0}\u{1}\u{2}\r\n", // garbage bytes
            "VALUE a 0 1\r\nx\r\nSTORED\r\n", // not VALUE/END inside a get reply
            "VA x\r\n", // bad VA
            "99999999999999999999999\r\n", // number overflow
        ])
    func malformed(input: String) throws {
        for (error, closed) in try decodingError({ MemcacheResponseDecoder() }, input: Array(input.utf8)) {
            #expect((error as? MemcacheError)?.code == .protocolViolation, "\(String(describing: error))")
            #expect(closed)
        }
    }

    @Test("bounded: an endless line and an oversized value are refused early")
    func bounds() throws {
        let endless = [UInt8](repeating: UInt8(ascii: "A"), count: 10_000)
        for (error, _) in try decodingError({ MemcacheResponseDecoder(maximumLineLength: 1024) }, input: endless) {
            #expect((error as? MemcacheError)?.code == .protocolViolation)
        }
        for (error, _) in try decodingError(
            { MemcacheResponseDecoder(maximumValueLength: 10) }, input: Array("VALUE a 0 11\r\n".utf8))
        {
            #expect((error as? MemcacheError)?.code == .valueTooLarge)
        }
    }
}
