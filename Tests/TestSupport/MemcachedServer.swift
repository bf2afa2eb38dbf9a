public import Channels
public import Codecs
import Foundation
import Glibc
import MemcacheClient

/// A real `memcached` (Debian's package) on 127.0.0.1 and a free port, for integration tests.
/// Started in `init`, stopped by `stop()` or when released.
public final class MemcachedServer: @unchecked Sendable {
    // SAFETY: the process handle is only touched by init and stop, which tests call in order.
    private let process: SpawnedProcess
    public let port: Int
    public let address: SocketAddress

    /// memcached's TLS mode (`-Z`) with the test server identity from `Fixtures/tls`.
    public static let tlsArguments = [
        "-Z", "-o", "ssl_chain_cert=\(fixturePath("tls/server-chain.pem")),ssl_key=\(fixturePath("tls/server.key"))",
    ]

    /// The memcached binary, or nil when the package is not installed.
    public static var binary: String? {
        ["/usr/bin/memcached", "/usr/local/bin/memcached"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Starts memcached with `arguments` added (e.g. `["-I", "2m"]`), waiting until it accepts.
    /// - Parameters:
    ///   - port: a given port (to restart a stopped server where clients expect it), else a
    ///     free one.
    ///   - users: when not empty, memcached asks for ASCII authentication (`-Y`) with an
    ///     authfile of these users.
    ///   - udp: memcached also serves its UDP protocol on the same port number (`-U`).
    public init(
        arguments: [String] = [], port: Int? = nil, users: [MemcacheCredentials] = [], udp: Bool = false,
        group: EventLoopGroup
    ) async throws {
        var arguments = arguments
        if !users.isEmpty {
            let path = NSTemporaryDirectory() + "memcached-auth-\(UUID().uuidString)"
            try users.map { "\($0.username):\($0.password)\n" }.joined().write(
                toFile: path, atomically: true, encoding: .utf8)
            arguments += ["-Y", path]
        }
        guard let binary = Self.binary else {
            throw TestSupportError("memcached is not installed (scripts/test.sh installs it)")
        }
        // A port that was free a moment ago can be taken by a parallel test before memcached
        // binds it; memcached then exits at once, and we try another port.
        for attempt in 1...5 {
            let chosen = try port ?? freePort()
            var all = ["-l", "127.0.0.1", "-p", "\(chosen)", "-U", udp ? "\(chosen)" : "0", "-t", "2"] + arguments
            if getuid() == 0 { all += ["-u", "root"] }
            let process = try SpawnedProcess(binary, all)
            StartedServers.shared.add(process.pid)
            do {
                try await waitUntilAccepting(port: chosen, group: group, while: { process.isRunning })
                try await Self.checkIdentity(
                    port: chosen, pid: process.pid, tls: arguments.contains("-Z"), credentials: users.first,
                    group: group)
            } catch {
                process.kill()
                if attempt == 5 || port != nil { throw error }
                continue
            }
            self.process = process
            self.port = chosen
            self.address = try SocketAddress(ipAddress: "127.0.0.1", port: chosen)
            return
        }
        throw TestSupportError("memcached did not start")
    }

    /// Starts memcached on a Unix-domain socket at `unixSocketPath` (`-s`, no TCP), waiting
    /// until it accepts there. `port` is 0; `address` is the socket's.
    public init(unixSocketPath path: String, arguments: [String] = [], group: EventLoopGroup) async throws {
        guard let binary = Self.binary else {
            throw TestSupportError("memcached is not installed (scripts/test.sh installs it)")
        }
        var all = ["-s", path, "-a", "0700", "-t", "2"] + arguments
        if getuid() == 0 { all += ["-u", "root"] }
        let process = try SpawnedProcess(binary, all)
        StartedServers.shared.add(process.pid)
        let deadline = Deadline.now() + testPatience
        while true {
            do {
                let probe = try await MemcacheConnection.connect(
                    unixDomainSocketPath: path, group: group, connectTimeout: .seconds(1))
                let reported = try? await probe.stats()["pid"]
                try? await probe.close()
                guard reported == "\(process.pid)" else {
                    throw TestSupportError("\(path) is served by another memcached")
                }
                break
            } catch {
                guard process.isRunning, Deadline.now() < deadline else {
                    process.kill()
                    throw TestSupportError("memcached did not start on \(path): \(error)")
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        self.process = process
        self.port = 0
        self.address = try SocketAddress(unixDomainSocketPath: path)
    }

    /// Whether the server on `port` is the process we started: a parallel test may have
    /// started its memcached on the same port a moment earlier (ours then fails to bind and
    /// exits, but the port accepts), and two tests must never share a server.
    private static func checkIdentity(
        port: Int, pid: Int32, tls: Bool, credentials: MemcacheCredentials?, group: EventLoopGroup
    ) async throws {
        // A client certificate too, for servers that require one (it is sent only when asked for).
        let context =
            try tls
            ? TLSContext.patient(
                configuration: .client(
                    trustRoots: .file(fixturePath("tls/ca.pem")),
                    certificateChain: .file(fixturePath("tls/client.pem")),
                    privateKey: .file(fixturePath("tls/client.key")))) : nil
        // A few tries: a server started with `-o idle_timeout=1` closes a probe that a stalled
        // process (a sanitizer, the whole suite at once) left idle for a second before its
        // `stats`; only a pid read back decides.
        var reported: String?
        for _ in 0..<5 where reported == nil {
            let probe = try await MemcacheConnection.connect(
                host: "127.0.0.1", port: port, group: group, tls: context, connectTimeout: testPatience,
                credentials: credentials)
            reported = try? await probe.stats()["pid"]
            try? await probe.close()
        }
        guard reported == "\(pid)" else {
            throw TestSupportError("port \(port) is served by another memcached (pid \(reported ?? "?"), ours \(pid))")
        }
    }

    /// Kills the server (SIGKILL: Debian's memcached 1.6.18 does not exit on SIGTERM here),
    /// like a crash: clients see their connections reset.
    public func stop() {
        self.process.kill()
        StartedServers.shared.remove(self.process.pid)
    }

    deinit { self.stop() }
}

/// Every memcached the tests started and did not stop yet; killed when the test process
/// exits, so a test that failed before its `stop()` leaves no server behind.
final class StartedServers: Sendable {
    static let shared = StartedServers()
    private let pids = LockedValue<Set<Int32>>([])

    private init() {
        atexit { StartedServers.shared.killAll() }
    }

    func add(_ pid: Int32) { _ = self.pids.withLock { $0.insert(pid) } }
    func remove(_ pid: Int32) { _ = self.pids.withLock { $0.remove(pid) } }

    private func killAll() {
        for pid in self.pids.withLock({ $0 }) { kill(pid, SIGKILL) }
    }
}

/// An error of the test support code itself.
public struct TestSupportError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A port on 127.0.0.1 that was free a moment ago, below the ephemeral range so that no
/// outgoing connect of a parallel test can be given it in between.
public func freePort() throws -> Int {
    let (fd, port) = try bindLoopbackPortBelowEphemeralRange()
    close(fd)
    return port
}

/// Waits (at most `seconds`, `testPatience` by default) until something accepts connections
/// on 127.0.0.1:`port`, giving up early when `alive` turns false (the server process exited:
/// a port taken by someone else ends the wait at once). A CI run once took more than 10 s to
/// see a memcached accept, with every test starting at once on 2 cores.
public func waitUntilAccepting(
    port: Int, group: EventLoopGroup, upTo seconds: Int64 = testPatience.nanoseconds / 1_000_000_000,
    while alive: @Sendable () -> Bool = { true }
) async throws {
    let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
    let deadline = Deadline.now() + .seconds(seconds)
    while true {
        do {
            let channel = try await ClientBootstrap(group: group).connectTimeout(.seconds(1)).connect(to: address).get()
            try await channel.close().get()
            return
        } catch {
            guard alive() else { throw TestSupportError("the server exited before accepting on port \(port)") }
            if Deadline.now() > deadline {
                throw TestSupportError("nothing accepts on port \(port) after \(seconds) s: \(error)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
