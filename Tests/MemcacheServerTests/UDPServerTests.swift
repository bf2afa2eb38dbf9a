import Channels
import Codecs
import Foundation
import MemcacheClient
import MemcacheServer
import TestSupport
import Testing

@Suite("The embedded server's UDP protocol (Configuration.udpPort)")
struct UDPServerTests {
    /// A client of memcached's documented UDP frame format, in Python (pymemcache has no UDP):
    /// sends each request as one datagram and prints each reply, its messages put together
    /// by sequence number, until the reply ends with the expected text (no text: expects
    /// silence for half a second).
    static let frameClient = """
        import json, socket, sys
        port, patience = int(sys.argv[1]), float(sys.argv[2])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        out = []
        for rid, (text, end, total) in enumerate(json.loads(sys.stdin.read()), start=100):
            s.sendto(bytes([rid >> 8, rid & 255, 0, 0, 0, total, 0, 0]) + text.encode('latin1'), ('127.0.0.1', port))
            if end is None:
                s.settimeout(0.5)
                try:
                    s.recvfrom(65535)
                    out.append('(unexpected reply)')
                except socket.timeout:
                    out.append('(no reply)')
                continue
            s.settimeout(patience)
            data, parts = b'', {}
            while not (data.endswith(end.encode('latin1')) and not parts):
                d, _ = s.recvfrom(65535)
                if d[0] * 256 + d[1] != rid:
                    continue
                sequence, count = d[2] * 256 + d[3], d[4] * 256 + d[5]
                assert d[6:8] == b'\\0\\0' and sequence < count, d[:8]
                parts[sequence] = d[8:]
                if len(parts) == count:
                    data += b''.join(parts[i] for i in range(count))
                    parts = {}
            out.append(data.decode('latin1'))
        print(json.dumps(out))
        """

    static let conversation: [(String, String?, Int)] = [
        ("set a 0 0 3000\r\n" + String(repeating: "x", count: 3000) + "\r\n", "STORED\r\n", 1),
        ("set b 5 0 5\r\nhello\r\n", "STORED\r\n", 1),
        ("get a b c\r\n", "END\r\n", 1),
        ("get b\r\n", "END\r\n", 1),
        ("mg b v f\r\n", "hello\r\n", 1),
        ("mn\r\n", "MN\r\n", 1),
        ("touch a 100\r\n", "TOUCHED\r\n", 1),
        ("incr n 1\r\n", "NOT_FOUND\r\n", 1),
        ("delete b\r\n", "DELETED\r\n", 1),
        ("get b\r\n", "END\r\n", 1),
        ("bogus\r\n", "ERROR\r\n", 1),
        ("get a\r\n", nil, 2), // a multi-packet request: dropped unanswered
        ("set c 0 0 1 noreply\r\nz\r\n", nil, 1),
        ("get c\r\n", "END\r\n", 1),
    ]

    private static func converse(port: Int) async throws -> [String] {
        let python = try #require(findExecutable(["/usr/bin/python3", "/usr/local/bin/python3"]))
        let input = try JSONSerialization.data(withJSONObject: Self.conversation.map { [$0.0, $0.1 as Any, $0.2] })
        let output = try await runProcess(
            python, ["-c", Self.frameClient, String(port), String(testPatience.nanoseconds / 1_000_000_000)],
            input: String(decoding: input, as: UTF8.self))
        return try JSONDecoder().decode([String].self, from: Data(output.utf8))
    }

    @Test("a frame-format client gets the same replies from our server as from memcached -U")
    func sameRepliesAsMemcached() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let memcached = try await MemcachedServer(udp: true, group: group)
        defer { memcached.stop() }
        let expected = try await Self.converse(port: memcached.port)
        let fixture = try await EmbeddedServerFixture { $0.udpPort = 0 }
        let udp = try #require(fixture.server.udpLocalAddress)
        #expect(udp.port != 0)
        let replies = try await Self.converse(port: udp.port)
        #expect(replies == expected)
        // Not two silent servers: the replies say what memcached says.
        #expect(
            replies[2] == "VALUE a 0 3000\r\n" + String(repeating: "x", count: 3000)
                + "\r\nVALUE b 5 5\r\nhello\r\nEND\r\n")
        #expect(replies[4] == "VA 5 f5\r\nhello\r\n")
        #expect(replies[11] == "(no reply)")
        #expect(replies[13] == "VALUE c 0 1\r\nz\r\nEND\r\n")
        let settings = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
            .stats("settings")
        #expect(settings["udpport"] == "\(udp.port)")
        try await fixture.stop()
    }

    @Test("our UDP client against our server: 1,000 callers, 0 wrong values; hostile datagrams change nothing")
    func clientAgainstServer() async throws {
        let fixture = try await EmbeddedServerFixture { $0.udpPort = 0 }
        let address = try #require(fixture.server.udpLocalAddress)
        let client = try await MemcacheUDPClient.connect(
            to: address, group: fixture.group, configuration: .init(responseTimeout: testPatience))
        for index in 0..<50 {
            try await client.set(
                "k\(index)", to: ByteBuffer(string: "value of k\(index) " + String(repeating: "+", count: index * 100)))
        }
        // Hostile datagrams from another socket: short, multi-packet, garbage, oversize, cut.
        let hostile = try await DatagramBootstrap(group: fixture.group).connect(to: address)
        for bytes: [UInt8] in [
            [], [1], [0, 1, 0, 0, 0, 2, 0, 0, 0x67], [0, 1, 0, 0, 0, 1, 0, 0] + Array("\u{0}\u{ff}garbage\r\n".utf8),
            [0, 2, 0, 0, 0, 1, 0, 0] + Array("set x 0 0 100\r\nshort".utf8), [UInt8](repeating: 0xff, count: 65_000),
        ] {
            try await hostile.writeAndFlush(ByteBuffer(bytes: bytes)).get()
        }
        let wrong = try await withThrowingTaskGroup(of: Int.self) { tasks in
            var wrong = 0
            for caller in 0..<1_000 {
                if caller >= 32, let result = try await tasks.next() { wrong += result }
                tasks.addTask {
                    let index = caller % 50
                    let value = try await client.get("k\(index)")
                    return value
                        == ByteBuffer(string: "value of k\(index) " + String(repeating: "+", count: index * 100))
                        ? 0 : 1
                }
            }
            for try await result in tasks { wrong += result }
            return wrong
        }
        #expect(wrong == 0)
        try await hostile.close().get()
        try await client.close()
        try await fixture.stop()
    }

    @Test("a server with TLS or authentication refuses UDP")
    func refusedWithTLSOrAuthentication() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        var configuration = InProcessMemcacheServer.Configuration(port: 0)
        configuration.udpPort = 0
        configuration.authenticator = MemcacheAuthenticator([try MemcacheCredentials(username: "a", password: "b")])
        await #expect(throws: MemcacheError.self) {
            _ = try await InProcessMemcacheServer.start(group: group, configuration: configuration)
        }
    }
}
