import Glibc

/// A UDP load client with blocking connected sockets and preallocated buffers (nothing
/// allocated per datagram, so the allocations counted are the server's). Each socket keeps
/// `depth` datagrams in flight and sends the next when an echo is back, until `perRound`
/// echoes came back. A receive that waits 10 s means a datagram was lost: the run stops.
final class RawDatagramClient: @unchecked Sendable {
    // SAFETY: used by one benchmark thread at a time (benchmarks run one after another).
    let sockets: [Int32]
    let size: Int
    let depth: Int
    let perRound: Int
    private let outgoing: UnsafeMutableRawBufferPointer
    private let incoming: UnsafeMutableRawBufferPointer
    private var pollSet: [pollfd]

    init(port: Int, sockets: Int, size: Int, depth: Int, perRound: Int) {
        self.size = size
        self.depth = depth
        self.perRound = perRound
        self.outgoing = .allocate(byteCount: size, alignment: 16)
        self.incoming = .allocate(byteCount: 65_536, alignment: 16)
        for index in 0..<size { self.outgoing[index] = UInt8(truncatingIfNeeded: index &* 31 &+ 7) }
        self.sockets = (0..<sockets).map { _ in Self.connect(port: port) }
        self.pollSet = self.sockets.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
    }

    deinit {
        for fd in self.sockets { close(fd) }
        self.outgoing.deallocate()
        self.incoming.deallocate()
    }

    static func connect(port: Int) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
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

    private func send(on fd: Int32) {
        let count = Glibc.send(fd, self.outgoing.baseAddress!, self.size, 0)
        precondition(count == self.size, "benchmark client send failed: errno \(errno)")
    }

    /// `perRound` echoes. Returns false if an echo differed from what was sent.
    func round() -> Bool {
        var toSend = self.perRound
        var toReceive = self.perRound
        for fd in self.sockets {
            for _ in 0..<self.depth where toSend > 0 {
                self.send(on: fd)
                toSend -= 1
            }
        }
        var intact = true
        while toReceive > 0 {
            let ready = poll(&self.pollSet, nfds_t(self.pollSet.count), 10_000)
            precondition(ready > 0, "no echo for 10 s: a datagram was lost (errno \(errno))")
            for index in self.pollSet.indices where self.pollSet[index].revents != 0 {
                let fd = self.pollSet[index].fd
                while true {
                    let count = recv(fd, self.incoming.baseAddress!, 65_536, Int32(MSG_DONTWAIT))
                    if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
                    precondition(count == self.size, "benchmark client recv failed: errno \(errno)")
                    intact = intact && memcmp(self.incoming.baseAddress!, self.outgoing.baseAddress!, self.size) == 0
                    toReceive -= 1
                    if toSend > 0 {
                        self.send(on: fd)
                        toSend -= 1
                    }
                }
            }
        }
        return intact
    }
}
