import Glibc

/// A load the benchmark runs one round of per iteration; false: an echo came back wrong.
protocol EchoLoad: Sendable {
    func round() -> Bool
}

/// What both servers offer the benchmark.
protocol EchoServer: Sendable {
    static func start(loops: Int) async throws -> Self
    var port: Int { get }
    func stop() async throws
}

/// A load client with blocking sockets and preallocated buffers: it allocates nothing per
/// message, so every allocation the benchmark counts belongs to the server under test.
/// One round writes `depth` messages on every connection, then reads every echo back.
final class RawEchoClient: EchoLoad, @unchecked Sendable {
    // SAFETY: used by one benchmark thread at a time (benchmarks run one after another).

    let connections: [Int32]
    let messageSize: Int
    let depth: Int
    private let outgoing: UnsafeMutableRawBufferPointer
    private let incoming: UnsafeMutableRawBufferPointer

    var messagesPerRound: Int { self.connections.count * self.depth }

    init(port: Int, connections: Int, messageSize: Int, depth: Int) {
        self.messageSize = messageSize
        self.depth = depth
        let bytes = messageSize * depth
        self.outgoing = .allocate(byteCount: bytes, alignment: 16)
        self.incoming = .allocate(byteCount: bytes, alignment: 16)
        for index in 0..<bytes { self.outgoing[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
        self.connections = (0..<connections).map { _ in Self.connect(port: port) }
    }

    deinit {
        for fd in self.connections { close(fd) }
        self.outgoing.deallocate()
        self.incoming.deallocate()
    }

    static func connect(port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        precondition(rc == 0, "benchmark client cannot connect: errno \(errno)")
        return fd
    }

    /// One round trip of `depth` messages on every connection. Returns false if an echo
    /// differed from what was sent (the benchmark then stops).
    func round() -> Bool {
        let bytes = self.messageSize * self.depth
        for fd in self.connections {
            var sent = 0
            while sent < bytes {
                let count = send(fd, self.outgoing.baseAddress! + sent, bytes - sent, Int32(MSG_NOSIGNAL))
                precondition(count > 0, "benchmark client send failed: errno \(errno)")
                sent += count
            }
        }
        var intact = true
        for fd in self.connections {
            var received = 0
            while received < bytes {
                let count = recv(fd, self.incoming.baseAddress! + received, bytes - received, 0)
                precondition(count > 0, "benchmark client recv failed: errno \(errno)")
                received += count
            }
            intact = intact && memcmp(self.incoming.baseAddress!, self.outgoing.baseAddress!, bytes) == 0
        }
        return intact
    }
}

/// A ping-pong load: every connection has exactly one message in flight, and sends the next
/// as soon as its echo is back (a read, a write and an epoll round per message on the server:
/// the engine's cost per event). Blocking sockets, `poll` for readiness, preallocated buffers.
final class RawPingPongClient: EchoLoad, @unchecked Sendable {
    // SAFETY: used by one benchmark thread at a time (benchmarks run one after another).

    let connections: [Int32]
    let messageSize: Int
    let messagesPerRound: Int
    private let outgoing: UnsafeMutableRawBufferPointer
    private let incoming: UnsafeMutableRawBufferPointer
    private var pollSet: [pollfd]

    init(port: Int, connections: Int, messageSize: Int, messagesPerRound: Int) {
        self.messageSize = messageSize
        self.messagesPerRound = messagesPerRound
        self.outgoing = .allocate(byteCount: messageSize, alignment: 16)
        self.incoming = .allocate(byteCount: messageSize, alignment: 16)
        for index in 0..<messageSize { self.outgoing[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
        self.connections = (0..<connections).map { _ in RawEchoClient.connect(port: port) }
        self.pollSet = self.connections.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    }

    deinit {
        for fd in self.connections { close(fd) }
        self.outgoing.deallocate()
        self.incoming.deallocate()
    }

    private func send(on fd: Int32) {
        var sent = 0
        while sent < self.messageSize {
            let count = Glibc.send(fd, self.outgoing.baseAddress! + sent, self.messageSize - sent, Int32(MSG_NOSIGNAL))
            precondition(count > 0, "benchmark client send failed: errno \(errno)")
            sent += count
        }
    }

    /// `messagesPerRound` echoes, one in flight per connection. Returns false if an echo
    /// differed from what was sent.
    func round() -> Bool {
        var toSend = self.messagesPerRound
        var toReceive = self.messagesPerRound
        for fd in self.connections where toSend > 0 {
            self.send(on: fd)
            toSend -= 1
        }
        var intact = true
        while toReceive > 0 {
            let ready = poll(&self.pollSet, nfds_t(self.pollSet.count), -1)
            precondition(ready > 0, "benchmark client poll failed: errno \(errno)")
            for index in self.pollSet.indices where self.pollSet[index].revents != 0 {
                let fd = self.pollSet[index].fd
                let count = recv(fd, self.incoming.baseAddress!, self.messageSize, Int32(MSG_WAITALL))
                precondition(count == self.messageSize, "benchmark client recv failed: errno \(errno)")
                intact = intact && memcmp(self.incoming.baseAddress!, self.outgoing.baseAddress!, self.messageSize) == 0
                toReceive -= 1
                if toSend > 0 {
                    self.send(on: fd)
                    toSend -= 1
                }
            }
        }
        return intact
    }
}
