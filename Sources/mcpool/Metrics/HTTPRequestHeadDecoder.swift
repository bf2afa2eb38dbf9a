import Channels
import Codecs

/// The head of an HTTP/1.x request: what a small endpoint needs to answer it.
struct HTTPRequestHead: Sendable, Equatable {
    var method: String
    /// The request target as sent (`/metrics`, `/metrics?x=1`).
    var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    var minorVersion: Int
    var headers: [(name: String, value: String)]

    /// The path, without a query.
    var path: Substring { self.target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0] }

    /// Whether the connection stays open after the response: HTTP/1.1 unless the client said
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    var keepAlive: Bool {
        let connection = self.headers.last { $0.name.lowercased() == "connection" }?.value.lowercased()
        return self.minorVersion == 1 ? connection != "close" : connection == "keep-alive"
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.minorVersion == rhs.minorVersion
            && lhs.headers.map(\.name) == rhs.headers.map(\.name)
            && lhs.headers.map(\.value) == rhs.headers.map(\.value)
    }
}

/// A request the endpoint will not read: answered with 400 and a close.
struct HTTPRequestError: Error, Equatable {
    let reason: String
}

/// Reads HTTP/1.0 and 1.1 request heads (request line and headers, up to an empty line),
/// for endpoints that take no request body.
///
/// Thread-safe (a value); one per connection. Strict where it matters and lenient where
/// clients differ: lines may end in `\r\n` or `\n`; a head longer than `maximumHeadLength`,
/// a malformed request line or header, an HTTP version other than 1.0/1.1, or a request with
/// a body (`Content-Length` above 0, any `Transfer-Encoding`) is an `HTTPRequestError`.
///
/// ```swift
/// try channel.pipeline.syncOperations.addHandlers(
///     ByteToMessageHandler(HTTPRequestHeadDecoder()), MetricsHTTPHandler { "body" })
/// ```
struct HTTPRequestHeadDecoder: ByteToMessageDecoder {
    let maximumHeadLength: Int

    init(maximumHeadLength: Int = 8192) {
        self.maximumHeadLength = maximumHeadLength
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> HTTPRequestHead? {
        let bytes = buffer.readableBytesView
        guard let end = Self.endOfHead(bytes, limit: self.maximumHeadLength) else {
            if bytes.count > self.maximumHeadLength {
                throw HTTPRequestError(reason: "request head over \(self.maximumHeadLength) bytes")
            }
            return nil
        }
        let head = try Self.parse(bytes[bytes.startIndex..<end.headEnd])
        buffer.moveReaderIndex(forwardBy: end.consumed)
        return head
    }

    /// Where the head ends (before its empty line) and how many bytes it takes with that line.
    private static func endOfHead(_ bytes: ByteBufferView, limit: Int) -> (headEnd: Int, consumed: Int)? {
        var lineStart = bytes.startIndex
        var index = bytes.startIndex
        let stop = min(bytes.endIndex, bytes.startIndex + limit + 2)
        while index < stop {
            if bytes[index] == UInt8(ascii: "\n") {
                let lineLength =
                    index - lineStart - (index > lineStart && bytes[index - 1] == UInt8(ascii: "\r") ? 1 : 0)
                if lineLength == 0, lineStart > bytes.startIndex { return (lineStart, index + 1 - bytes.startIndex) }
                lineStart = index + 1
            }
            index += 1
        }
        return nil
    }

    private static func parse(_ head: Slice<ByteBufferView>) throws -> HTTPRequestHead {
        // Split as bytes: as Characters, "\r\n" is one grapheme and would not split at "\n".
        var lines = head.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line in
            Substring(String(decoding: line.last == UInt8(ascii: "\r") ? line.dropLast() : line[...], as: UTF8.self))
        }
        if lines.last?.isEmpty == true { lines.removeLast() } // the head's last line end
        guard let requestLine = lines.first else { throw HTTPRequestError(reason: "no request line") }
        let parts = requestLine.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy(\.isUppercase),
            parts[1].first == "/" || parts[1] == "*"
        else {
            throw HTTPRequestError(reason: "malformed request line")
        }
        let minorVersion: Int
        switch parts[2] {
        case "HTTP/1.1": minorVersion = 1
        case "HTTP/1.0": minorVersion = 0
        default: throw HTTPRequestError(reason: "unsupported version \(parts[2].prefix(16))")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":"), colon > line.startIndex,
                !line[..<colon].contains(where: { $0 == " " || $0 == "\t" })
            else { throw HTTPRequestError(reason: "malformed header line") }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            headers.append((String(line[..<colon]), value))
        }
        for (name, value) in headers {
            switch name.lowercased() {
            case "transfer-encoding": throw HTTPRequestError(reason: "a request body is not accepted")
            case "content-length" where value != "0": throw HTTPRequestError(reason: "a request body is not accepted")
            default: continue
            }
        }
        return HTTPRequestHead(
            method: String(parts[0]), target: String(parts[1]), minorVersion: minorVersion, headers: headers)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in characters: String) -> String {
        String(self.drop { characters.contains($0) }.reversed().drop { characters.contains($0) }.reversed())
    }
}
