import Channels
import Foundation
import MemcacheClient

/// A real memcached for the tests, on a free loopback port (plain, or TLS with the
/// repository's test certificates), stopped with SIGKILL (Debian's ignores SIGTERM).
final class Memcached: Sendable {
    let port: Int
    let tls: TLSContext?
    private let process: Process

    static var binary: String? {
        ["/usr/bin/memcached", "/usr/local/bin/memcached"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The repository's `Fixtures/` folder (this file is Integrations/HummingbirdMemcache/Tests/…).
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    init(tls: Bool = false, group: EventLoopGroup) async throws {
        guard let binary = Self.binary else { throw Failure("memcached is not installed") }
        self.port = try Self.freePort()
        var arguments = ["-l", "127.0.0.1", "-p", "\(self.port)", "-U", "0", "-t", "2"]
        if getuid() == 0 { arguments += ["-u", "root"] }
        if tls {
            arguments += [
                "-Z", "-o",
                "ssl_chain_cert=\(Self.fixtures)/tls/server-chain.pem,ssl_key=\(Self.fixtures)/tls/server.key",
            ]
            var configuration = TLSConfiguration.client(trustRoots: .file("\(Self.fixtures)/tls/ca.pem"))
            configuration.handshakeTimeout = .seconds(60)
            self.tls = try TLSContext(configuration: configuration)
        } else {
            self.tls = nil
        }
        self.process = Process()
        self.process.executableURL = URL(fileURLWithPath: binary)
        self.process.arguments = arguments
        try self.process.run()
        // Ready when it answers (bounded: a minute, for a machine stalled by sanitizers).
        for _ in 0..<600 {
            if let connection = try? await MemcacheConnection.connect(
                host: "127.0.0.1", port: self.port, group: group, tls: self.tls)
            {
                try? await connection.close()
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        self.stop()
        throw Failure("memcached did not start on port \(self.port)")
    }

    func stop() {
        kill(self.process.processIdentifier, SIGKILL)
        self.process.waitUntilExit()
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        guard bound else { throw Failure("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
