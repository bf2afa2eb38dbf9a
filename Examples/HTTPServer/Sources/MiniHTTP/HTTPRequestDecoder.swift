public import Channels
public import Codecs

/// Reads HTTP/1.x requests: the head (request line and header fields) up to an empty line,
/// then a `Content-Length` body.
///
/// Thread-safe (a value). Bounded: a head over `maximumHeadLength` is `431`, a body over
/// `maximumBodyLength` `413`; chunked bodies are `501` (this example does not do them); a
/// request line or header field it cannot read is `400`. Such a request is delivered as
/// `.malformed` and everything after it is dropped: a stream that broke once cannot be trusted
/// to line up again. The search for the head's end resumes where it stopped, so a head that
/// arrives in pieces is scanned once.
public struct HTTPRequestDecoder: ByteToMessageDecoder {
    public let maximumHeadLength: Int
    public let maximumBodyLength: Int
    private var scanned = 0
    private var broken = false
    private static let headEnd: [UInt8] = [13, 10, 13, 10]

    public init(maximumHeadLength: Int = 8192, maximumBodyLength: Int = 1 << 20) {
        self.maximumHeadLength = maximumHeadLength
        self.maximumBodyLength = maximumBodyLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> HTTPServerInbound? {
        guard !self.broken else {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return nil
        }
        let start = buffer.readerIndex
        // Resume three bytes back: the end marker may straddle what was scanned.
        guard let end = buffer.firstIndex(of: Self.headEnd, from: start + max(0, self.scanned - 3)) else {
            self.scanned = buffer.readableBytes
            if buffer.readableBytes > self.maximumHeadLength {
                return self.fail(431, "the request head is over \(self.maximumHeadLength) bytes", &buffer)
            }
            return nil
        }
        guard end - start <= self.maximumHeadLength else {
            return self.fail(431, "the request head is over \(self.maximumHeadLength) bytes", &buffer)
        }
        let head = buffer.getSlice(at: start, length: end - start) ?? ByteBuffer()
        let parsed: (method: String, target: String, minor: Int, headers: [(name: String, value: String)])
        switch Self.parseHead(head) {
        case .success(let value): parsed = value
        case .failure(let failure): return self.fail(failure.status, failure.reason, &buffer)
        }
        var length = 0
        let lengths = parsed.headers.filter { $0.name.lowercased() == "content-length" }.map(\.value)
        if parsed.headers.contains(where: { $0.name.lowercased() == "transfer-encoding" }) {
            return self.fail(lengths.isEmpty ? 501 : 400, "Transfer-Encoding is not supported here", &buffer)
        }
        if let first = lengths.first {
            guard lengths.allSatisfy({ $0 == first }), !first.isEmpty, first.count <= 18,
                first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                let value = Int(first)
            else {
                return self.fail(400, "a Content-Length that is not one decimal number", &buffer)
            }
            guard value <= self.maximumBodyLength else {
                return self.fail(413, "a body of \(value) bytes is over \(self.maximumBodyLength)", &buffer)
            }
            length = value
        }
        let bodyStart = end + 4
        guard buffer.writerIndex - bodyStart >= length else {
            self.scanned = end - start // the head is whole: do not search it again
            return nil
        }
        let body = buffer.getSlice(at: bodyStart, length: length) ?? ByteBuffer()
        buffer.moveReaderIndex(to: bodyStart + length)
        self.scanned = 0
        return .request(
            HTTPRequest(
                method: parsed.method, target: parsed.target, minorVersion: parsed.minor, headers: parsed.headers,
                body: body))
    }

    public mutating func decodeLast(buffer: inout ByteBuffer) throws -> HTTPServerInbound? {
        // A request cut off by the end of input is simply dropped: there is nobody to answer.
        let request = try self.decode(buffer: &buffer)
        if request == nil { buffer.moveReaderIndex(to: buffer.writerIndex) }
        return request
    }

    private mutating func fail(_ status: Int, _ reason: String, _ buffer: inout ByteBuffer) -> HTTPServerInbound {
        self.broken = true
        buffer.moveReaderIndex(to: buffer.writerIndex)
        return .malformed(status: status, reason: reason)
    }

    struct Failure: Error {
        let status: Int
        let reason: String
    }

    /// The request line and header fields (RFC 9112 section 3 and 5), strictly.
    static func parseHead(_ head: ByteBuffer) -> Result<
        (method: String, target: String, minor: Int, headers: [(name: String, value: String)]), Failure
    > {
        let bytes = Array(head.readableBytesView)
        var lines = bytes.split(separator: 10, omittingEmptySubsequences: false).map { line -> ArraySlice<UInt8> in
            line.last == 13 ? line.dropLast() : line
        }
        guard !lines.isEmpty else { return .failure(Failure(status: 400, reason: "an empty request")) }
        let requestLine = lines.removeFirst()
        let parts = requestLine.split(separator: 32, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(isTokenByte), !parts[1].isEmpty,
            parts[1].allSatisfy({ $0 > 32 && $0 < 127 })
        else {
            return .failure(Failure(status: 400, reason: "a request line that is not METHOD TARGET VERSION"))
        }
        let version = Array(parts[2])
        guard version.count == 8, version.starts(with: Array("HTTP/1.".utf8)),
            let minor = version.last.flatMap({ $0 >= 48 && $0 <= 57 ? Int($0 - 48) : nil })
        else {
            if version.starts(with: Array("HTTP/".utf8)) {
                return .failure(Failure(status: 505, reason: "only HTTP/1.x is served"))
            }
            return .failure(Failure(status: 400, reason: "a request line without an HTTP version"))
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: 58) else {
                return .failure(Failure(status: 400, reason: "a header field without a colon"))
            }
            let name = line[line.startIndex..<colon]
            guard !name.isEmpty, name.allSatisfy(isTokenByte) else {
                return .failure(Failure(status: 400, reason: "a header field name that is not a token (or folded)"))
            }
            var value = line[(colon + 1)...]
            while let first = value.first, first == 32 || first == 9 { value = value.dropFirst() }
            while let last = value.last, last == 32 || last == 9 { value = value.dropLast() }
            guard value.allSatisfy({ $0 == 9 || ($0 >= 32 && $0 != 127) }) else {
                return .failure(Failure(status: 400, reason: "a header field value with control bytes"))
            }
            headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        if minor == 1, !headers.contains(where: { $0.name.lowercased() == "host" }) {
            return .failure(Failure(status: 400, reason: "an HTTP/1.1 request without Host"))
        }
        return .success(
            (String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self), minor, headers))
    }

    /// RFC 9110 token characters.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}
