import Channels
import Testing

@testable import RESPClient

@Suite("RESP2 encoder")
struct RESPEncoderTests {
    static func encoded(_ command: RESPCommand) throws -> String {
        var buffer = ByteBuffer()
        try RESPEncoder().encode(command, into: &buffer)
        return buffer.readString()
    }

    @Test("text is counted in UTF-8 bytes, bytes as they are, empty arguments too, in order")
    func commands() throws {
        #expect(try Self.encoded(["GET", "greeting"]) == "*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n")
        // "héllo" is five characters and six bytes; the count must be the bytes'.
        #expect(try Self.encoded(["SET", "héllo", ""]) == "*3\r\n$3\r\nSET\r\n$6\r\nhéllo\r\n$0\r\n\r\n")
        var value = ByteBuffer(bytes: [0x0d, 0x0a, 0x00, 0xff])
        value.moveReaderIndex(forwardBy: 1) // only the readable bytes are sent
        var buffer = ByteBuffer()
        try RESPEncoder().encode(RESPCommand([.text("SET"), .text("k"), .bytes(value)]), into: &buffer)
        let expected = Array("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n".utf8) + [0x0a, 0x00, 0xff, 0x0d, 0x0a]
        #expect(buffer.readBytes(length: buffer.readableBytes) == expected)
        #expect(try Self.encoded(RESPCommand([String]())) == "*0\r\n")
    }
}
