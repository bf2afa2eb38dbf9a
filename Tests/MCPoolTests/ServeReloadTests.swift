import Channels
import Codecs
import Foundation
import Glibc
import MemcacheClient
import Pool
import TestSupport
import Testing

/// Thread-safe counters of the load that runs across the rotation.
private final class LoadTally: Sendable {
    let succeeded = LockedValue(0)
    let failures = LockedValue<[String]>([])
    let running = LockedValue(true)
    /// New connections made (handshake and authentication included).
    let made = LockedValue(0)
}

@Suite("mcpool serve reloads its TLS files and --auth-file on SIGHUP")
struct ServeReloadTests {
    /// The SHA-256 fingerprint of the certificate a new connection to `port` is shown, as
    /// `openssl s_client` sees it.
    static func fingerprint(port: Int) async throws -> String {
        try await runProcess(
            "/bin/sh",
            [
                "-c",
                "openssl s_client -connect 127.0.0.1:\(port) -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256",
            ]
        ).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func fingerprint(file: String) async throws -> String {
        try await runProcess(
            "/usr/bin/openssl", ["x509", "-in", fixturePath(file), "-noout", "-fingerprint", "-sha256"]
        )
        .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func copy(_ fixture: String, to path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath(fixture)))
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    static func authenticates(port: Int, as credentials: MemcacheCredentials, group: EventLoopGroup) async -> Bool {
        guard
            let connection = try? await MemcacheConnection.connect(
                host: "127.0.0.1", port: port, group: group,
                tls: try? TLSContext.patient(configuration: .client(trustRoots: .file(fixturePath("tls/ca.pem")))),
                serverHostname: "localhost", connectTimeout: testPatience, responseTimeout: testPatience,
                credentials: credentials)
        else { return false }
        try? await connection.close()
        return true
    }

    @Test(
        "SIGHUP under load: 0 failed requests while connections churn, new connections show the new certificate, files that do not load keep the old one, a new authfile applies to new connections"
    )
    func reloadOnHangup() async throws {
        let directory = NSTemporaryDirectory() + "mcpool-reload-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (cert, key, auth) = (directory + "/cert.pem", directory + "/key.pem", directory + "/auth")
        try Self.copy("tls/server-chain.pem", to: cert)
        try Self.copy("tls/server.key", to: key)
        try "app:one\n".write(toFile: auth, atomically: true, encoding: .utf8)
        let group = try EventLoopGroup(loopCount: 2)
        let (server, port) = try await ServeProcessTests.startServe(
            group: group, ["--tls-cert", cert, "--tls-key", key, "--auth-file", auth])
        defer { server.kill() }
        let original = try await Self.fingerprint(file: "tls/server.pem")
        let rotated = try await Self.fingerprint(file: "tls/server-rotated.pem")
        #expect(try await Self.fingerprint(port: port) == original)

        // Load: a pool's requests over its open connections, and beside it a new connection
        // (handshake, authentication, one get) after another, across the rotation.
        let one = try MemcacheCredentials(username: "app", password: "one")
        var configuration = MemcachePool.Configuration(
            host: "127.0.0.1", port: port, maxConnections: 4,
            tls: try TLSContext.patient(configuration: .client(trustRoots: .file(fixturePath("tls/ca.pem")))))
        configuration.serverHostname = "localhost"
        configuration.credentials = one
        configuration.responseTimeout = testPatience
        configuration.pool.connectTimeout = testPatience
        configuration.pool.leaseTimeout = testPatience
        let pool = MemcachePool(configuration: configuration, group: group)
        let tally = LoadTally()
        let load = Task {
            var index = 0
            while tally.running.withLock({ $0 }) {
                index += 1
                do {
                    try await pool.set("k\(index % 64)", to: ByteBuffer(string: "v\(index)"))
                    _ = try await pool.get("k\(index % 64)")
                    tally.succeeded.withLock { $0 += 1 }
                } catch {
                    tally.failures.withLock { $0.append("\(error)") }
                }
            }
        }
        let newConnections = Task {
            while tally.running.withLock({ $0 }) {
                if await Self.authenticates(port: port, as: one, group: group) {
                    tally.made.withLock { $0 += 1 }
                } else {
                    tally.failures.withLock { $0.append("a new connection failed") }
                }
            }
        }
        // Bounded waits on counts, not sleeps: under a sanitizer a handshake takes a while.
        for _ in 0..<15000 where tally.made.withLock({ $0 }) < 1 { try await Task.sleep(for: .milliseconds(20)) }
        try Self.copy("tls/server-rotated.key", to: key)
        try Self.copy("tls/server-rotated-chain.pem", to: cert)
        server.send(SIGHUP)
        var shown = ""
        for _ in 0..<3000 {
            shown = try await Self.fingerprint(port: port)
            if shown == rotated { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(shown == rotated, "new connections show the rotated certificate")
        let madeAtRotation = tally.made.withLock { $0 }
        for _ in 0..<15000 where tally.made.withLock({ $0 }) < madeAtRotation + 2 {
            try await Task.sleep(for: .milliseconds(20))
        }
        tally.running.withLock { $0 = false }
        await load.value
        await newConnections.value
        let created = tally.made.withLock { $0 } - madeAtRotation
        await pool.shutdown()
        #expect(tally.failures.withLock { $0 }.isEmpty, "\(tally.failures.withLock { $0.prefix(3) })")
        #expect(tally.succeeded.withLock { $0 } > 0)
        #expect(created >= 2, "new connections were made after the rotation (\(created))")

        // A broken certificate and a new authfile in one SIGHUP: the users change, the
        // certificate stays the one that loaded last.
        try "not a certificate".write(toFile: cert, atomically: true, encoding: .utf8)
        try "app:two\n".write(toFile: auth, atomically: true, encoding: .utf8)
        server.send(SIGHUP)
        let two = try MemcacheCredentials(username: "app", password: "two")
        var reloaded = false
        for _ in 0..<3000 where !reloaded {
            reloaded = await Self.authenticates(port: port, as: two, group: group)
            if !reloaded { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(reloaded, "the new authfile applies to new connections")
        #expect(!(await Self.authenticates(port: port, as: one, group: group)))
        #expect(try await Self.fingerprint(port: port) == rotated)
        #expect(server.isRunning)
        server.send(SIGTERM)
        try await group.shutdownGracefully()
    }
}
