import Codecs
import Testing

@Suite("Memcache keys")
struct MemcacheKeyTests {
    @Test("valid keys: 1 to 250 printable bytes")
    func valid() throws {
        let short = try MemcacheKey("a")
        let longest = try MemcacheKey(String(repeating: "k", count: 250))
        let unicode = try MemcacheKey("user:42/ünïcode")
        #expect(short.bytes == Array("a".utf8))
        #expect(longest.bytes.count == 250)
        #expect(!unicode.isBinary)
    }

    @Test("injection and malformed keys are refused", arguments: [
        "", "a b", "a\r\nflush_all", "a\nflush_all", "a\rb", "tab\there", "nul\u{0}", "del\u{7f}",
        String(repeating: "x", count: 251), "get a\r\nset b 0 0 1\r\nx",
    ])
    func invalid(key: String) {
        #expect { try MemcacheKey(key) } throws: { ($0 as? MemcacheError)?.code == .invalidKey }
    }

    @Test("binary keys take any bytes and travel base64-encoded")
    func binary() throws {
        let key = try MemcacheKey.binary([0, 13, 10, 32, 255])
        #expect(key.isBinary)
        #expect(throws: MemcacheError.self) { try MemcacheKey.binary([]) }
        #expect(throws: MemcacheError.self) { try MemcacheKey.binary([UInt8](repeating: 1, count: 188)) }
    }
}
