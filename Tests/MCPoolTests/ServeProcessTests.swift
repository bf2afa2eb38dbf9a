import Channels
import Codecs
import Foundation
import Testing
import TestSupport

/// `mcpool serve` as its own process: what needs a process of its own (a descriptor limit).
@Suite("mcpool serve as a process")
struct ServeProcessTests {
    /// The `mcpool` binary `swift test` built beside the test bundle.
    static var binary: String? {
        guard let runner = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        let folder = runner.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return findExecutable([folder + "/mcpool"])
    }

    /// User plus system CPU time of `pid`, in clock ticks (/proc/PID/stat fields 14 and 15).
    static func cpuTicks(of pid: Int32) -> Int? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let afterName = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        // fields[0] is the state (field 3): utime and stime are fields 14 and 15.
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }

    @Test("out of descriptors (EMFILE) the server stops accepting without spinning, and serves again once clients leave")
    func descriptorExhaustion() async throws {
        let binary = try #require(Self.binary, "swift test builds mcpool beside the tests")
        let port = try freePort()
        let server = try SpawnedProcess("/bin/sh", ["-c", "ulimit -n 64 && exec '\(binary)' serve --port \(port) --loops 1"])
        defer { server.kill() }
        let group = try EventLoopGroup(loopCount: 1)
        // A sanitizer-instrumented binary starting on a loaded machine can take well over 10 s.
        try await waitUntilAccepting(port: port, group: group, upTo: 120, while: { server.isRunning })
        // More connections than the server has descriptors: the kernel completes them all
        // (the backlog), the server accepts until EMFILE.
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: port)
        var flood: [any Channel] = []
        for _ in 0..<120 { flood.append(try await ClientBootstrap(group: group).connect(to: address).get()) }
        try await Task.sleep(for: .milliseconds(300))
        // The server is at its limit: every descriptor it may have is open.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/fd").count) ?? 0
        #expect(open >= 60, "the server holds \(open) descriptors of 64")
        let before = try #require(Self.cpuTicks(of: server.pid))
        try await Task.sleep(for: .seconds(2))
        let after = try #require(Self.cpuTicks(of: server.pid))
        // A loop spinning on the readable listener would burn ~200 ticks in 2 s (100 per second).
        #expect(after - before < 40, "the server used \(after - before) ticks in 2 s while out of descriptors")
        #expect(server.isRunning)
        for channel in flood { try? await channel.close().get() }
        // Once descriptors free up, the pending and new connections are served.
        var answered = false
        for _ in 0..<100 where !answered {
            if let memcache = try? await MemcacheConnection.connect(host: "127.0.0.1", port: port, group: group) {
                answered = (try? await memcache.version())?.hasPrefix("1.6") ?? false
                try? await memcache.close()
            }
            if !answered { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(answered)
        try await group.shutdownGracefully()
    }
}
