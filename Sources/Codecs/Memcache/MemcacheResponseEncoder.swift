public import Channels

/// Writes replies on the server side, text and meta protocol: the inverse of
/// `MemcacheResponseDecoder`.
///
/// Thread-safe (a value).
///
/// ```swift
/// var bytes = ByteBuffer()
/// MemcacheResponseEncoder().encode(.stored, into: &bytes)   // "STORED\r\n"
/// ```
public struct MemcacheResponseEncoder: MessageToByteEncoder {
    public init() {}

    public func encode(_ response: MemcacheResponse, into buffer: inout ByteBuffer) {
        switch response {
        case .values(let items):
            for item in items {
                buffer.writeMemcacheValue(key: item.key, flags: item.flags, cas: item.cas, value: item.value)
            }
            buffer.writeString("END\r\n")
        case .end: buffer.writeString("END\r\n")
        case .stored: buffer.writeString("STORED\r\n")
        case .notStored: buffer.writeString("NOT_STORED\r\n")
        case .exists: buffer.writeString("EXISTS\r\n")
        case .notFound: buffer.writeString("NOT_FOUND\r\n")
        case .deleted: buffer.writeString("DELETED\r\n")
        case .touched: buffer.writeString("TOUCHED\r\n")
        case .ok: buffer.writeString("OK\r\n")
        case .number(let value):
            buffer.writeDecimal(value)
            buffer.writeCRLF()
        case .version(let version):
            buffer.writeString("VERSION \(version)\r\n")
        case .stats(let stats):
            for stat in stats { buffer.writeString("STAT \(stat.name) \(stat.value)\r\n") }
            buffer.writeString("END\r\n")
        case .meta(let meta):
            buffer.writeString(meta.status.rawValue)
            if meta.status == .value {
                buffer.writeSpace()
                buffer.writeDecimal(UInt64(meta.value?.readableBytes ?? 0))
            }
            for flag in meta.flags {
                buffer.writeSpace()
                buffer.writeInteger(flag.letter)
                buffer.writeBytes(flag.token)
            }
            buffer.writeCRLF()
            if meta.status == .value {
                if let value = meta.value { buffer.writeImmutableBuffer(value) }
                buffer.writeCRLF()
            }
        case .error(let error):
            switch error.code {
            case .clientError: buffer.writeString("CLIENT_ERROR \(error.message)\r\n")
            case .serverError: buffer.writeString("SERVER_ERROR \(error.message)\r\n")
            default: buffer.writeString("ERROR\r\n")
            }
        }
    }
}
