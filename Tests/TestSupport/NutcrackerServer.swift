public import Channels
import Foundation
import Glibc

/// A real twemproxy (`nutcracker`, Debian's package) on 127.0.0.1 and a free port, in front of
/// the given memcached servers, with md5 + ketama placement (as libmemcached's clients place
/// keys). The YAML is written to a temporary directory. Started in `init`, stopped by `stop()`
/// or when released.
public final class NutcrackerServer: @unchecked Sendable {
    // SAFETY: the process handle is only touched by init and stop, which tests call in order.
    private let process: SpawnedProcess
    private let directory: String
    public let port: Int

    /// The nutcracker binary, or nil when the package is not installed.
    public static var binary: String? {
        findExecutable(["/usr/sbin/nutcracker", "/usr/bin/nutcracker", "/usr/local/sbin/nutcracker"])
    }

    /// - Parameter backends: the memcached servers' ports on 127.0.0.1, weight 1 each. Their
    ///   ketama names are `127.0.0.1:PORT` (none is 11211), as `KetamaRing` spells them.
    public init(backends: [Int], group: EventLoopGroup) async throws {
        guard let binary = Self.binary else {
            throw TestSupportError("nutcracker is not installed (scripts/test.sh installs it)")
        }
        let directory = NSTemporaryDirectory() + "nutcracker-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for attempt in 1...5 {
            let port = try freePort()
            let statsPort = try freePort()
            // server_failure_limit high and auto_eject off: a test that kills a backend sees
            // its errors, not keys moving.
            let yaml = """
                pool:
                  listen: 127.0.0.1:\(port)
                  hash: md5
                  distribution: ketama
                  timeout: 5000
                  auto_eject_hosts: false
                  servers:
                \(backends.map { "   - 127.0.0.1:\($0):1" }.joined(separator: "\n"))

                """
            try yaml.write(toFile: directory + "/nutcracker.yml", atomically: true, encoding: .utf8)
            let process = try SpawnedProcess(
                binary,
                [
                    "-c", directory + "/nutcracker.yml", "-p", directory + "/nutcracker.pid", "-o",
                    directory + "/nutcracker.log",
                    "-s", "\(statsPort)", "-a", "127.0.0.1",
                ])
            StartedServers.shared.add(process.pid)
            do {
                try await waitUntilAccepting(port: port, group: group, while: { process.isRunning })
                // A port taken by a parallel test's server makes nutcracker exit at once: it must
                // still be running after answering, or the port is someone else's.
                try await Task.sleep(for: .milliseconds(100))
                guard process.isRunning else { throw TestSupportError("nutcracker exited: \(Self.log(in: directory))") }
            } catch {
                process.kill()
                StartedServers.shared.remove(process.pid)
                if attempt == 5 { throw error }
                continue
            }
            self.process = process
            self.directory = directory
            self.port = port
            return
        }
        throw TestSupportError("nutcracker did not start")
    }

    private static func log(in directory: String) -> String {
        (try? String(contentsOfFile: directory + "/nutcracker.log", encoding: .utf8)) ?? ""
    }

    public func stop() {
        self.process.kill()
        StartedServers.shared.remove(self.process.pid)
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    deinit { self.stop() }
}
