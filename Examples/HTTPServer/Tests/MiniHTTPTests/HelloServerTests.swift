import Channels
import Foundation
import Testing

@testable import MiniHTTP

/// Sends `bytes` on a new connection, half-closes, and returns everything the server sent.
func exchange(_ bytes: [UInt8], with address: SocketAddress, group: EventLoopGroup) async throws -> String {
    let client = try await ClientBootstrap(group: group)
        .connect(to: address, inbound: ByteBuffer.self, outbound: ByteBuffer.self)
    return try await client.executeThenClose { inbound, outbound in
        try await outbound.write(ByteBuffer(bytes: bytes))
        outbound.finish()
        var received = ""
        do {
            for try await chunk in inbound { received += String(buffer: chunk) }
        } catch let error as ChannelError where error.code == .ioOnClosedChannel {
            // A server that closes while we still send may reset the connection: what came is the answer.
        }
        return received
    }
}

func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite("The hello-world HTTP server")
struct HelloServerTests {
    @Test(
        "curl: keep-alive over one connection, HTTP/1.0, HEAD, 405",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")))
    func curl() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await HelloServer.start(group: group, host: "127.0.0.1", port: 0)
        let serving = Task { try await server.serve() }
        let url = "http://127.0.0.1:\(server.localAddress.port)/"
        let keepAlive = try run("/usr/bin/curl", ["-sv", "--http1.1", url, url, url])
        #expect(keepAlive.status == 0)
        #expect(keepAlive.output.components(separatedBy: "Hello, World!").count == 4)
        #expect(
            keepAlive.output.contains("Re-using existing connection")
                || keepAlive.output.contains("Reusing existing connection"))
        let head = try run("/usr/bin/curl", ["-s", "-I", url])
        #expect(head.output.hasPrefix("HTTP/1.1 200 OK"))
        #expect(head.output.contains("Content-Length: 13"))
        let old = try run("/usr/bin/curl", ["-s", "--http1.0", url])
        #expect(old.output == "Hello, World!")
        let post = try run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", "x=1", url])
        #expect(post.output == "405")
        try await server.close()
        try await serving.value
        try await group.shutdownGracefully()
    }

    @Test("pipelined requests in one write are answered in order, the last one closing")
    func pipelined() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await HelloServer.start(group: group, host: "127.0.0.1", port: 0)
        let serving = Task { try await server.serve() }
        let requests =
            "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n"
        let answer = try await exchange(Array(requests.utf8), with: server.localAddress, group: group)
        // A response's status line follows the previous body directly.
        #expect(answer.components(separatedBy: "HTTP/1.1 ").count == 4)
        #expect(answer.components(separatedBy: "HTTP/1.1 200 OK\r\n").count == 4)
        #expect(answer.components(separatedBy: "Hello, World!").count == 3) // GET, (HEAD: none), GET
        #expect(answer.contains("Connection: close"))
        try await server.close()
        try await serving.value
        try await group.shutdownGracefully()
    }

    @Test("hostile bytes never crash it: each gets a 4xx/5xx or a close, and it goes on serving")
    func hostile() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await HelloServer.start(group: group, host: "127.0.0.1", port: 0)
        let serving = Task { try await server.serve() }
        var generator = SystemRandomNumberGenerator()
        let seeds: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8),
            Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc".utf8),
            Array("GET / HTTP/1.1\r\nHost: a\r\nX-Long: \(String(repeating: "z", count: 9000))\r\n\r\n".utf8),
        ]
        for round in 0..<300 {
            var bytes = seeds[round % seeds.count]
            switch round % 4 {
            case 0: // random bytes
                bytes = (0..<Int.random(in: 1...2048, using: &generator)).map { _ in
                    UInt8.random(in: 0...255, using: &generator)
                }
            case 1: // flipped bytes
                for _ in 0..<Int.random(in: 1...8, using: &generator) {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(
                        in: 0...255, using: &generator)
                }
            case 2: // cut short
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &generator)))
            default: // doubled with garbage between
                bytes = bytes + [0, 13, 10, 255] + bytes
            }
            let answer = try await exchange(bytes, with: server.localAddress, group: group)
            if !answer.isEmpty {
                #expect(answer.hasPrefix("HTTP/1.1 "), "round \(round): \(answer.prefix(40).debugDescription)")
            }
        }
        let good = try await exchange(
            Array("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8), with: server.localAddress,
            group: group)
        #expect(good.hasSuffix("Hello, World!"))
        try await server.close()
        try await serving.value
        try await group.shutdownGracefully()
    }
}
