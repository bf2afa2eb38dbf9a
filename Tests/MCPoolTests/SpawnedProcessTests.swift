import Glibc
import TestSupport
import Testing

/// The test support's process spawning, which every test with a real server relies on.
@Suite("Spawned processes")
struct SpawnedProcessTests {
    @Test("a spawned child inherits no descriptor of the test process beyond its standard three")
    func noInheritedDescriptors() async throws {
        // A pipe without close-on-exec, as a test's raw socket or a library outside our control
        // might hold while another test spawns.
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        defer { for fd in ends { close(fd) } }
        let listing = try await runProcess("/bin/sh", ["-c", "ls /proc/$$/fd"])
        let descriptors = listing.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }.sorted()
        #expect(descriptors == [0, 1, 2], "the child held \(descriptors); the test's pipe is \(ends)")
    }
}
