import CLinux
import Glibc

extension Posix {
    /// A non-blocking, close-on-exec UDP socket of `family` (`AF_INET` or `AF_INET6`).
    @inline(never)
    static func datagramSocket(family: Int32) throws -> Int32 {
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return try syscallBlocking("socket") { Glibc.socket(family, type, 0) }
    }
}

/// One datagram a `recvmmsg` filled in.
struct ReceivedDatagram {
    /// Bytes received (no more than the slot's size).
    var length: Int
    /// Who sent it; nil only for an address family this library does not speak.
    var sender: SocketAddress?
    /// The datagram was longer than its slot and the kernel cut it (`MSG_TRUNC`).
    var isTruncated: Bool
}

/// The message headers, vectors and address slots of `recvmmsg`/`sendmmsg`, allocated once.
///
/// Loop-confined: a loop owns one for receiving and one for sending (a send can run from a
/// handler called while a receive's results are still being read, so they cannot share).
final class DatagramVectors {
    /// How many datagrams one call moves at most.
    static let capacity = 64
    private let messages: UnsafeMutablePointer<CLinux_mmsghdr>
    private let vectors: UnsafeMutablePointer<iovec>
    private let addresses: UnsafeMutablePointer<sockaddr_storage>

    init() {
        self.messages = .allocate(capacity: Self.capacity)
        self.messages.initialize(repeating: CLinux_mmsghdr(), count: Self.capacity)
        self.vectors = .allocate(capacity: Self.capacity)
        self.vectors.initialize(repeating: iovec(), count: Self.capacity)
        self.addresses = .allocate(capacity: Self.capacity)
        self.addresses.initialize(repeating: sockaddr_storage(), count: Self.capacity)
    }

    deinit {
        self.messages.deallocate()
        self.vectors.deallocate()
        self.addresses.deallocate()
    }

    /// Receives up to `count` datagrams with one `recvmmsg`, the i-th into the `slotSize`
    /// bytes at `base + i × slotSize`. Returns how many arrived; read each with `received(_:)`
    /// before the next call.
    @inline(never)
    func receive(_ fd: Int32, into base: UnsafeMutableRawPointer, slotSize: Int, count: Int) throws -> IOResult<Int> {
        let count = min(count, Self.capacity)
        for index in 0..<count {
            self.vectors[index] = iovec(iov_base: base + index * slotSize, iov_len: slotSize)
            var header = msghdr()
            header.msg_name = UnsafeMutableRawPointer(self.addresses + index)
            header.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            header.msg_iov = self.vectors + index
            header.msg_iovlen = 1
            self.messages[index] = CLinux_mmsghdr(msg_hdr: header, msg_len: 0)
        }
        return try syscall("recvmmsg") { Int(CLinux_recvmmsg(fd, self.messages, UInt32(count), 0)) }
    }

    /// The `index`-th datagram of the last `receive`.
    func received(_ index: Int) -> ReceivedDatagram {
        let message = self.messages[index]
        return ReceivedDatagram(
            length: Int(message.msg_len),
            sender: SocketAddress(storage: self.addresses + index, length: message.msg_hdr.msg_namelen),
            isTruncated: message.msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0)
    }

    /// Sends up to `capacity` datagrams with one `sendmmsg`: `next(i)` gives the i-th
    /// datagram's bytes and its destination (nil on a connected socket), or nil when there
    /// are no more. The bytes must stay alive and unchanged until this returns.
    ///
    /// Returns how many datagrams the kernel took. When the first one fails (`EMSGSIZE`, an
    /// ICMP error such as `ECONNREFUSED` on a connected socket) this throws its `IOError`;
    /// a later one's failure shows as a shorter count, and the next call reports it.
    @inline(never)
    func send(_ fd: Int32, next: (Int) -> (bytes: UnsafeRawBufferPointer, destination: SocketAddress?)?) throws
        -> IOResult<Int>
    {
        var count = 0
        while count < Self.capacity, let datagram = next(count) {
            // SAFETY: iovec wants a mutable pointer by C's signature; the kernel only reads it.
            self.vectors[count] = iovec(
                iov_base: UnsafeMutableRawPointer(mutating: datagram.bytes.baseAddress), iov_len: datagram.bytes.count)
            var header = msghdr()
            if let destination = datagram.destination {
                let slot = UnsafeMutableRawPointer(self.addresses + count)
                header.msg_name = slot
                header.msg_namelen = destination.withSockAddr { address, length in
                    slot.copyMemory(from: address, byteCount: Int(length))
                    return length
                }
            }
            header.msg_iov = self.vectors + count
            header.msg_iovlen = 1
            self.messages[count] = CLinux_mmsghdr(msg_hdr: header, msg_len: 0)
            count += 1
        }
        if count == 0 { return .processed(0) }
        return try syscall("sendmmsg") { Int(CLinux_sendmmsg(fd, self.messages, UInt32(count), 0)) }
    }
}
