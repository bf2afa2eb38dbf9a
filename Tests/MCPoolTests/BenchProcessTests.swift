import Foundation
import Glibc
import TestSupport
import Testing

/// `mcpool bench` as its own process: what a user sees at a terminal (signals, exit status,
/// standard error).
@Suite("mcpool bench as a process")
struct BenchProcessTests {
    /// Files for the output of one run.
    static func outputFiles() -> (output: String, error: String) {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent(
            "mcpool-bench-\(UInt32.random(in: 0...UInt32.max))"
        ).path
        return (base + ".out", base + ".err")
    }

    @Test("a server that cannot be reached is one line on standard error and exit status 1, not a table of zeros")
    func unreachable() async throws {
        let binary = try #require(ServeProcessTests.binary, "swift test builds mcpool beside the tests")
        let port = try freePort() // free: nothing listens there
        let files = Self.outputFiles()
        let bench = try SpawnedProcess(
            binary, ["bench", "--server", "127.0.0.1:\(port)", "--duration", "1"], standardOutput: files.output,
            standardError: files.error)
        defer { bench.kill() }
        #expect(try await poll { !bench.isRunning })
        #expect(bench.exitCode == 1)
        let errorLines = bench.errorOutput.split(separator: "\n")
        #expect(errorLines.count == 1, "\(bench.errorOutput)")
        #expect(
            errorLines.first?.hasPrefix("mcpool bench: cannot store the keys on 127.0.0.1:\(port): connect failed")
                == true, "\(bench.errorOutput)")
        #expect(!bench.output.contains("ops/s"), "no table: \(bench.output)")
    }

    @Test("Ctrl-C (SIGINT) ends a long run early and prints the summary of what ran, exit status 0")
    func interrupted() async throws {
        let binary = try #require(ServeProcessTests.binary, "swift test builds mcpool beside the tests")
        let files = Self.outputFiles()
        // 1e300 s: far past the test's own patience, so only the signal can end it in time
        // (and past what a span holds: it saturates, where the conversion trapped).
        let bench = try SpawnedProcess(
            binary, ["bench", "--duration", "1e300", "--keys", "100", "--concurrency", "8"],
            standardOutput: files.output,
            standardError: files.error)
        defer { bench.kill() }
        // The header is printed once the embedded server is up and the signal is trapped.
        #expect(
            try await poll(every: .milliseconds(20)) {
                bench.output.contains("mcpool bench: embedded server") || !bench.isRunning
            })
        try await Task.sleep(for: .milliseconds(500))
        bench.send(SIGINT)
        #expect(try await poll { !bench.isRunning }, "still running after SIGINT")
        #expect(bench.exitCode == 0, "\(bench.output)\n\(bench.errorOutput)")
        #expect(bench.output.contains("stopped early by Ctrl-C"), "\(bench.output)")
        #expect(bench.output.contains("errors       0"), "\(bench.output)")
        #expect(bench.errorOutput.contains("stopping"), "\(bench.errorOutput)")
    }
}
