import Channels
import Codecs
import Foundation
import Glibc
import Logging
import MemcacheServer
import Testing
import TestSupport

/// A plain blocking loopback socket, for clients that misbehave on purpose (test code may
/// call the kernel directly).
private final class RawClient {
    private(set) var fd: Int32

    init(port: Int) throws {
        self.fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(self.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(self.fd)
            throw TestSupportError("connect failed: errno \(errno)")
        }
        // Reads give up after a second, so a test never blocks for good.
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(self.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends everything; false once the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(self.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return false }
            sent += count
        }
        return true
    }

    /// Reads until `done` says the bytes so far are enough, the peer closes (then `closed`),
    /// or `deadline`.
    func read(until deadline: Deadline, done: ([UInt8]) -> Bool) -> (bytes: [UInt8], closed: Bool) {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while !done(bytes), Deadline.now() < deadline {
            let count = chunk.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
            if count == 0 { return (bytes, true) }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return (bytes, true)  // reset
            }
            bytes += chunk[0..<count]
        }
        return (bytes, false)
    }

    /// Hangs up (a server's graceful stop waits for its clients to).
    func close() {
        if self.fd >= 0 { Glibc.close(self.fd) }
        self.fd = -1
    }

    deinit { self.close() }
}

private func count(_ needle: String, in bytes: [UInt8]) -> Int {
    let pattern = Array(needle.utf8)
    guard bytes.count >= pattern.count else { return 0 }
    var found = 0
    var index = 0
    while index <= bytes.count - pattern.count {
        if bytes[index] == pattern[0], Array(bytes[index..<index + pattern.count]) == pattern {
            found += 1
            index += pattern.count
        } else {
            index += 1
        }
    }
    return found
}

@Suite("Hostile clients of the embedded server")
struct HostileClientTests {
    @Test("a client that never reads its replies: the server stops running its requests (its memory stays bounded), serves others, and answers everything once it reads")
    func neverReads() async throws {
        let fixture = try await EmbeddedServerFixture()
        let value = ByteBuffer(bytes: [UInt8](repeating: 0x61, count: 256 << 10))
        let memcache = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        try await memcache.set("big", to: value)

        // 1,000 gets of 256 KiB (250 MiB of replies) sent at once, nothing read.
        let hog = try RawClient(port: fixture.port)
        let gets = 1000
        #expect(hog.send(String(repeating: "get big\r\n", count: gets)))
        // Wait until the server stops running them: the count of answered commands settles.
        var answered = fixture.server.statistics.commands
        let deadline = Deadline.now() + testPatience
        while Deadline.now() < deadline {
            try await Task.sleep(for: .milliseconds(300))
            let now = fixture.server.statistics.commands
            if now == answered { break }
            answered = now
        }
        // What it ran fills the socket buffers and one channel's worth: a few dozen, not 1,000
        // (memcached holds a similar amount; before the fix all 1,000 were buffered, 1.5 GB).
        let ran = answered - 1
        #expect(ran < 200, "the server ran \(ran) of the \(gets) gets for a client that does not read")

        // Others are served meanwhile.
        for index in 0..<50 {
            try await memcache.set("other-\(index)", to: ByteBuffer(string: "\(index)"))
            #expect(try await memcache.get("other-\(index)") == ByteBuffer(string: "\(index)"))
        }

        // Once it reads, every reply arrives, whole.
        let total = gets * (value.readableBytes + "VALUE big 0 262144\r\n\r\nEND\r\n".utf8.count)
        let received = hog.read(until: Deadline.now() + testPatience) { $0.count >= total }
        #expect(received.bytes.count == total)
        #expect(count("END\r\n", in: Array(received.bytes.suffix(4096))) >= 1)
        hog.close()
        try await memcache.close()
        try await fixture.stop()
    }

    @Test("a client trickling a request a byte at a time is closed once the request stays incomplete past the timeout; others are unaffected")
    func trickle() async throws {
        let logs = CapturedLogs()
        let fixture = try await EmbeddedServerFixture {
            $0.incompleteRequestTimeout = .milliseconds(500)
            $0.logger = logs.logger(label: "server")
        }
        let slow = try RawClient(port: fixture.port)
        let memcache = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        let request = Array("set slow 0 0 40\r\n" + String(repeating: "s", count: 40) + "\r\n")
        var closed = false
        var index = 0
        let deadline = Deadline.now() + testPatience
        while !closed, Deadline.now() < deadline {
            // A byte every 100 ms: the whole request would take 6 s.
            if index < request.count {
                if !slow.send(String(request[index])) { closed = true }
                index += 1
            }
            try await memcache.set("busy-\(index)", to: ByteBuffer(string: "fine"))
            #expect(try await memcache.get("busy-\(index)") == ByteBuffer(string: "fine"))
            try await Task.sleep(for: .milliseconds(100))
            // Closed: the reason, or a reset (a byte sent after the close makes one, and a
            // reset discards the reason from the socket), then nothing more.
            if slow.read(until: Deadline.now() + .milliseconds(10), done: { _ in false }).closed { closed = true }
        }
        #expect(closed, "the trickling client was closed")
        #expect(index < request.count, "it was closed before its request could complete")
        let reasons = logs.messages(atLeast: .debug, startingWith: "closing a connection").compactMap { $0.metadata["error"] }
        #expect(reasons.contains { "\($0)".hasPrefix("a request stayed incomplete") }, "\(reasons)")
        #expect(try await memcache.get("slow") == nil)
        slow.close()
        try await memcache.close()
        try await fixture.stop()
    }

    @Test("a client whose requests arrive split across reads, each read completing one, is not a trickler")
    func slowButProgressing() async throws {
        let fixture = try await EmbeddedServerFixture { $0.incompleteRequestTimeout = .milliseconds(500) }
        let client = try RawClient(port: fixture.port)
        let pieces = ["get a\r\nge", "t b\r\nget c\r\nge", "t d\r\nget", " e\r\n"]
        for piece in pieces {
            #expect(client.send(piece))
            try await Task.sleep(for: .milliseconds(300))  // 1.2 s in all, each piece finishing a request
        }
        let answer = client.read(until: Deadline.now() + testPatience) { count("END\r\n", in: $0) == 5 }
        #expect(count("END\r\n", in: answer.bytes) == 5 && !answer.closed)
        client.close()
        try await fixture.stop()
    }
}
