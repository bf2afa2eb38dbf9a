public import Channels
public import Codecs

/// Writes a command as RESP2: an array of bulk strings (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`).
///
/// Thread-safe (a value). Numbers are written as ASCII digits in place (no `String` per
/// request), text arguments as their UTF-8 bytes (no buffer per argument).
public struct RESPEncoder: MessageToByteEncoder {
    public init() {}

    public func encode(_ command: RESPCommand, into buffer: inout ByteBuffer) throws {
        buffer.writeInteger(UInt8(ascii: "*"))
        buffer.writeDecimal(command.arguments.count)
        buffer.writeCRLF()
        for argument in command.arguments {
            buffer.writeInteger(UInt8(ascii: "$"))
            switch argument {
            case .text(let text):
                buffer.writeDecimal(text.utf8.count)
                buffer.writeCRLF()
                buffer.writeString(text)
            case .bytes(let bytes):
                buffer.writeDecimal(bytes.readableBytes)
                buffer.writeCRLF()
                buffer.writeImmutableBuffer(bytes)
            }
            buffer.writeCRLF()
        }
    }
}
