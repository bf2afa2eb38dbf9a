import Channels
import ChannelsTestUtils
import Testing

@testable import RESPClient

@Suite("RESP2 decoder")
struct RESPDecoderTests {
    static func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test("every reply type, nested arrays and nulls, whichever way the bytes are cut")
    func replies() throws {
        let pairs: [(ByteBuffer, [RESPValue])] = [
            (Self.bytes("+OK\r\n"), [.simpleString(Self.bytes("OK"))]),
            (Self.bytes("-ERR unknown command\r\n"), [.error(Self.bytes("ERR unknown command"))]),
            (Self.bytes(":-42\r\n:0\r\n"), [.integer(-42), .integer(0)]),
            (
                Self.bytes("$5\r\nhe\r\no\r\n$0\r\n\r\n$-1\r\n"),
                [.bulkString(Self.bytes("he\r\no")), .bulkString(Self.bytes("")), .bulkString(nil)]
            ),
            (
                Self.bytes("*3\r\n:1\r\n*2\r\n+a\r\n$1\r\nb\r\n*-1\r\n*0\r\n"),
                [
                    .array([
                        .integer(1), .array([.simpleString(Self.bytes("a")), .bulkString(Self.bytes("b"))]),
                        .array(nil),
                    ]), .array([]),
                ]
            ),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs, decoderFactory: { RESPDecoder() })
    }

    @Test("an array's whole elements are taken as they arrive, so a long array is read once")
    func arrayElementsTakenAsTheyArrive() throws {
        var decoder = RESPDecoder()
        var buffer = Self.bytes("*3\r\n$1\r\na\r\n*2\r\n:7\r\n:")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        // The header, the first element and the inner array's first element are consumed;
        // the unfinished integer is left for the next read.
        #expect(String(buffer: buffer) == ":")
        buffer.writeString("8\r\n+last\r\n:9\r\n")
        let value = try decoder.decode(buffer: &buffer)
        #expect(
            value
                == .array([
                    .bulkString(Self.bytes("a")), .array([.integer(7), .integer(8)]), .simpleString(Self.bytes("last")),
                ]))
        #expect(try decoder.decode(buffer: &buffer) == .integer(9))
        #expect(buffer.readableBytes == 0)

        // A long array, one element per read, every element at once.
        let count = 10_000
        buffer.writeString("*\(count)\r\n")
        for index in 0..<count {
            #expect(try decoder.decode(buffer: &buffer) == nil)
            buffer.writeString(":\(index)\r\n")
        }
        #expect(try decoder.decode(buffer: &buffer) == .array((0..<count).map { .integer(Int64($0)) }))
    }

    @Test("the stream ending inside an array is a typed error, and a broken stream leaves nothing behind")
    func endInsideAnArray() throws {
        var decoder = RESPDecoder()
        var buffer = Self.bytes("*2\r\n:1\r\n")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 0)
        #expect(throws: RESPError.self) { _ = try decoder.decodeLast(buffer: &buffer) }
        // After an error the decoder holds no half-read array: a fresh reply reads alone.
        var next = Self.bytes(":5\r\n")
        #expect(try decoder.decode(buffer: &next) == .integer(5))
    }

    @Test("broken or oversized replies are typed errors, never a crash or unbounded buffering")
    func broken() throws {
        for bad in [
            "?what\r\n", ":12a\r\n", "$3\r\nabcd\r\n", ":99999999999999999999\r\n", "+no cr\n", "$100\r\n",
            "*2000000\r\n",
        ] {
            var decoder = RESPDecoder(maximumBulkLength: 10)
            var buffer = ByteBuffer(string: bad)
            #expect(throws: RESPError.self, "\(bad.debugDescription)") {
                while try decoder.decode(buffer: &buffer) != nil {}
                if buffer.readableBytes > 0 { throw RESPError(.protocolViolation, "incomplete") }
            }
        }
        var decoder = RESPDecoder()
        var endless = ByteBuffer(bytes: [UInt8(ascii: "+")] + [UInt8](repeating: 0x61, count: 70_000))
        #expect(throws: RESPError.self) { _ = try decoder.decode(buffer: &endless) }
        var deep = ByteBuffer(string: String(repeating: "*1\r\n", count: 40) + ":1\r\n")
        #expect(throws: RESPError.self) { _ = try decoder.decode(buffer: &deep) }
    }
}
