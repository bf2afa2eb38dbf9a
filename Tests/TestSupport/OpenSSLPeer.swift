import Channels
import Foundation
import Glibc

/// `openssl s_server` or `s_client` as a foreign TLS peer, with its standard input and
/// output connected to the test. Started in `init`; killed by `stop()` or when released.
public final class OpenSSLPeer: @unchecked Sendable {
    // SAFETY: the process and pipes are used by one test at a time, in order.
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let collected = LockedBytes()

    /// `openssl s_server` on 127.0.0.1 and a free port, with `arguments` added.
    public static func server(arguments: [String]) throws -> (peer: OpenSSLPeer, port: Int) {
        let port = try freePort()
        let peer = try OpenSSLPeer(["s_server", "-accept", "127.0.0.1:\(port)", "-quiet", "-naccept", "1"] + arguments)
        return (peer, port)
    }

    /// `openssl s_client` connecting to 127.0.0.1:`port`, with `arguments` added.
    public static func client(port: Int, arguments: [String]) throws -> OpenSSLPeer {
        try OpenSSLPeer(["s_client", "-connect", "127.0.0.1:\(port)", "-quiet"] + arguments)
    }

    private init(_ arguments: [String]) throws {
        ignoreBrokenPipes()
        self.process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        self.process.arguments = arguments
        self.process.standardInput = self.input
        self.process.standardOutput = self.output
        self.process.standardError = FileHandle.nullDevice
        try self.process.run()
        // A plain reader thread (FileHandle's readabilityHandler leaks under LeakSanitizer):
        // it ends at EOF, when the process exits.
        let collected = self.collected
        let reader = self.output.fileHandleForReading
        Thread.detachNewThread {
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                collected.append(data)
            }
        }
    }

    /// Sends bytes to the peer's standard input (which it sends over TLS).
    public func send(_ bytes: [UInt8]) {
        try? self.input.fileHandleForWriting.write(contentsOf: Data(bytes))
    }

    /// Waits (at most `seconds`, by default far beyond a sanitizer's stall) until the peer
    /// printed at least `count` bytes; returns them.
    public func received(atLeast count: Int, seconds: Double? = nil) async throws -> [UInt8] {
        let seconds = seconds ?? Double(testPatience.nanoseconds) / 1e9
        let deadline = Date().addingTimeInterval(seconds)
        while self.collected.count < count {
            if Date() > deadline {
                throw TestSupportError("openssl printed \(self.collected.count) of \(count) bytes in \(seconds) s")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        return self.collected.bytes
    }

    /// Waits until something listens on `port` (for `s_server`).
    public func waitUntilListening(port: Int) async throws {
        let deadline = Date().addingTimeInterval(120)
        while !canConnect(port: port) {
            if Date() > deadline { throw TestSupportError("openssl s_server did not listen on \(port)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    public func stop() {
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
    }

    deinit { self.stop() }
}

/// Bytes appended from a reader thread and read by the test.
final class LockedBytes: @unchecked Sendable {
    // SAFETY: every access holds `lock`.
    private let lock = NSLock()
    private var storage: [UInt8] = []
    func append(_ data: Data) {
        self.lock.lock()
        self.storage.append(contentsOf: data)
        self.lock.unlock()
    }
    var count: Int {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.storage.count
    }
    var bytes: [UInt8] {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.storage
    }
}

/// Whether a plain TCP connect to 127.0.0.1:`port` succeeds (then closes it). Probing an
/// `s_server -naccept 1` this way would use up its one accept, so the probe only checks
/// that the port is bound, by failing to bind it.
func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return bound != 0 // in use: the server is listening
}
