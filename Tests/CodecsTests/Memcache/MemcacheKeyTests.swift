import Codecs
import Testing

@Suite("Memcache keys")
struct MemcacheKeyTests {
    @Test("valid keys: 1 to 250 printable bytes")
    func valid() throws {
        // Through variables: `MemcacheKey("literal")` is literal syntax, which does not throw.
        let texts = ["a", String(repeating: "k", count: 250), "user:42/ünïcode"]
        let short = try MemcacheKey(texts[0])
        let longest = try MemcacheKey(texts[1])
        let unicode = try MemcacheKey(texts[2])
        #expect(short.bytes == Array("a".utf8))
        #expect(longest.bytes.count == 250)
        #expect(!unicode.isBinary)
    }

    @Test(
        "injection and malformed keys are refused",
        arguments: [
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
