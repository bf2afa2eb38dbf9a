public import Channels

/// One HTTP/1.x request: its head and its body (`Content-Length` bytes).
///
/// Thread-safe (a value).
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    public var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// Header fields in order, names as sent.
    public var headers: [(name: String, value: String)]
    public var body: ByteBuffer

    /// Whether the connection stays open after the response: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool {
        let connection = self.headers.last { $0.name.lowercased() == "connection" }?.value.lowercased()
        if self.minorVersion >= 1 { return connection.map { !$0.contains("close") } ?? true }
        return connection?.contains("keep-alive") ?? false
    }

    public init(
        method: String, target: String, minorVersion: Int, headers: [(name: String, value: String)], body: ByteBuffer
    ) {
        self.method = method
        self.target = target
        self.minorVersion = minorVersion
        self.headers = headers
        self.body = body
    }

    public static func == (lhs: HTTPRequest, rhs: HTTPRequest) -> Bool {
        lhs.method == rhs.method && lhs.target == rhs.target && lhs.minorVersion == rhs.minorVersion
            && lhs.headers.elementsEqual(rhs.headers, by: { $0.name == $1.name && $0.value == $1.value })
            && lhs.body == rhs.body
    }
}

/// What the decoder delivers: a request, or why the bytes cannot be a request (after which
/// it delivers nothing more from that connection).
public enum HTTPServerInbound: Sendable, Equatable {
    case request(HTTPRequest)
    /// The status to answer with (400, 413, 431, 501, 505) and why; then close.
    case malformed(status: Int, reason: String)
}
