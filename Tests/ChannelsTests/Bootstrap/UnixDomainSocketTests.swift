import Channels
import Foundation
import Glibc
import TestSupport
import Testing

/// A fresh path for a socket file in a directory of its own (removed by `cleanUp`).
private struct SocketPath {
    let directory: String
    let path: String

    init() throws {
        self.directory = NSTemporaryDirectory() + "uds-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        self.path = self.directory + "/server.sock"
    }

    var exists: Bool { FileManager.default.fileExists(atPath: self.path) }

    func cleanUp() { try? FileManager.default.removeItem(atPath: self.directory) }
}

private func echoServer(group: EventLoopGroup, path: String, fileMode: UInt32? = nil) async throws -> ListeningServer {
    try await ServerBootstrap(group: group)
        .childChannelInitializer { try $0.pipeline.syncOperations.addHandler(EchoHandler()) }
        .bind(unixDomainSocketPath: path, fileMode: fileMode)
}

private func echo(_ text: String, path: String, group: EventLoopGroup) async throws -> [UInt8] {
    let done = group.loops[0].makePromise(of: [UInt8].self)
    let client = try await ClientBootstrap(loop: group.loops[0])
        .channelInitializer {
            try $0.pipeline.syncOperations.addHandler(ByteCollector(expected: text.utf8.count, done: done))
        }
        .connect(unixDomainSocketPath: path).get()
    try await client.writeAndFlush(ByteBuffer(string: text)).get()
    let received = try await done.futureResult.get()
    try await client.close().get()
    return received
}

private func expectChannelError(
    _ code: ChannelError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("no error", sourceLocation: sourceLocation)
    } catch let error as ChannelError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("not a ChannelError: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("Unix-domain sockets")
struct UnixDomainSocketTests {
    @Test(
        "a server binds a path with the file mode asked for, clients on every loop talk to it, and closing removes the file"
    )
    func echoOverPath() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let socket = try SocketPath()
        defer { socket.cleanUp() }
        let server = try await echoServer(group: group, path: socket.path, fileMode: 0o600)
        #expect(server.localAddress.unixDomainSocketPath == socket.path)
        #expect(server.localAddress.description == "unix:\(socket.path)")
        let attributes = try FileManager.default.attributesOfItem(atPath: socket.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(attributes[.type] as? FileAttributeType == .typeSocket)
        for index in 0..<4 {
            #expect(try await echo("hello \(index)", path: socket.path, group: group) == Array("hello \(index)".utf8))
        }
        try await server.close()
        #expect(!socket.exists, "the socket file is removed when the server closes")
        await #expect(throws: (any Error).self) { _ = try await echo("x", path: socket.path, group: group) }
    }

    @Test(
        "a stale socket file is taken over; a live server's path or a file that is not a socket is a typed error and left alone"
    )
    func existingFiles() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let socket = try SocketPath()
        defer { socket.cleanUp() }

        // A socket file nobody listens on, as a crashed server leaves it.
        let stale = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(socket.path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(stale, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(bound == 0)
        close(stale)
        #expect(socket.exists)
        let server = try await echoServer(group: group, path: socket.path)
        #expect(try await echo("taken over", path: socket.path, group: group) == Array("taken over".utf8))

        // A second server on the same path: refused, and the first keeps its file and clients.
        await expectChannelError(.addressInUse) { _ = try await echoServer(group: group, path: socket.path) }
        #expect(try await echo("still here", path: socket.path, group: group) == Array("still here".utf8))
        try await server.close()

        // A regular file is never removed.
        try "not a socket".write(toFile: socket.path, atomically: false, encoding: .utf8)
        await expectChannelError(.addressInUse) { _ = try await echoServer(group: group, path: socket.path) }
        #expect(try String(contentsOfFile: socket.path, encoding: .utf8) == "not a socket")
    }

    @Test("bad paths are typed errors; connecting where nothing listens fails")
    func badPaths() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        #expect(throws: ChannelError.self) { try SocketAddress(unixDomainSocketPath: "") }
        #expect(throws: ChannelError.self) {
            try SocketAddress(unixDomainSocketPath: "/tmp/" + String(repeating: "x", count: 200))
        }
        #expect(throws: ChannelError.self) { try SocketAddress(unixDomainSocketPath: "/tmp/a\u{0}b") }
        await expectChannelError(.invalidAddress) { _ = try await echoServer(group: group, path: "") }
        let socket = try SocketPath()
        defer { socket.cleanUp() }
        await #expect(throws: IOError.self) {
            _ = try await ClientBootstrap(group: group).connect(unixDomainSocketPath: socket.path).get()
        }
    }
}
