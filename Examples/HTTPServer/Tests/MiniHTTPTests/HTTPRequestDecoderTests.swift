import Channels
import ChannelsTestUtils
import Testing

@testable import MiniHTTP

@Suite("HTTP request decoder")
struct HTTPRequestDecoderTests {
    static func request(
        _ method: String, _ target: String, _ headers: [(String, String)], body: String = "", minor: Int = 1
    ) -> HTTPServerInbound {
        .request(
            HTTPRequest(
                method: method, target: target, minorVersion: minor, headers: headers.map { (name: $0.0, value: $0.1) },
                body: ByteBuffer(string: body)))
    }

    @Test("pipelined requests with and without bodies, whichever way the bytes are cut")
    func requests() throws {
        let input =
            "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
            + "POST /items HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
            + "HEAD /x?y=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        let expected = [
            Self.request("GET", "/", [("Host", "a")]),
            Self.request("POST", "/items", [("Host", "a"), ("Content-Length", "5")], body: "hello"),
            Self.request("HEAD", "/x?y=1", [("Connection", "keep-alive")], minor: 0),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(ByteBuffer(string: input), expected)], decoderFactory: { HTTPRequestDecoder() })
    }

    @Test(
        "what cannot be a request gets its status, and nothing after it is read",
        arguments: [
            ("GARBAGE\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400), // no Host
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET /\r\nHost: a\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: \u{01}\r\n\r\n", 400),
        ])
    func malformed(input: String, status: Int) throws {
        var decoder = HTTPRequestDecoder()
        var buffer = ByteBuffer(string: input + "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let first = try decoder.decode(buffer: &buffer)
        guard case .malformed(let got, _) = first else {
            Issue.record("\(input.debugDescription) decoded as \(String(describing: first))")
            return
        }
        #expect(got == status)
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 0)
    }

    @Test("a head over the limit is 431 as soon as the limit is passed, without its end")
    func headLimit() throws {
        var decoder = HTTPRequestDecoder(maximumHeadLength: 1024)
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 2000))
        guard case .malformed(431, _) = try decoder.decode(buffer: &buffer) else {
            Issue.record("not 431")
            return
        }
    }
}
