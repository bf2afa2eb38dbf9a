public import Channels

/// Writes an HTTP/1.1 response (status line, `Content-Length`, the given fields, body) into
/// one buffer, so head and body leave in one write.
public enum HTTPResponse {
    public static func reason(for status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 413: "Content Too Large"
        case 431: "Request Header Fields Too Large"
        case 501: "Not Implemented"
        case 505: "HTTP Version Not Supported"
        default: "Status"
        }
    }

    /// - Parameters:
    ///   - omitBody: for `HEAD`: the length of the body, not the body.
    ///   - close: adds `Connection: close` (the server closes after this response).
    public static func write(
        status: Int, contentType: String = "text/plain", body: ByteBuffer, omitBody: Bool = false, close: Bool,
        into buffer: inout ByteBuffer
    ) {
        buffer.writeString(
            "HTTP/1.1 \(status) \(Self.reason(for: status))\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.readableBytes)\r\n"
        )
        if close { buffer.writeString("Connection: close\r\n") }
        buffer.writeString("\r\n")
        if !omitBody { buffer.writeImmutableBuffer(body) }
    }
}
