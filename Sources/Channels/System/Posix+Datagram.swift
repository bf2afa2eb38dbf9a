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
    /// With receive offload (`UDP_GRO`) on: the size of the datagrams the kernel joined into
    /// this buffer, to cut it back into them; nil for a datagram that arrived alone.
    var segmentSize: Int?
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
    /// Room for each message's control data (one `UDP_GRO` header and its int).
    private let controls: UnsafeMutableRawPointer
    private static let controlSize = 32

    init() {
        self.messages = .allocate(capacity: Self.capacity)
        self.messages.initialize(repeating: CLinux_mmsghdr(), count: Self.capacity)
        self.vectors = .allocate(capacity: Self.capacity)
        self.vectors.initialize(repeating: iovec(), count: Self.capacity)
        self.addresses = .allocate(capacity: Self.capacity)
        self.addresses.initialize(repeating: sockaddr_storage(), count: Self.capacity)
        self.controls = .allocate(byteCount: Self.capacity * Self.controlSize, alignment: 8)
    }

    deinit {
        self.messages.deallocate()
        self.vectors.deallocate()
        self.addresses.deallocate()
        self.controls.deallocate()
    }

    /// Receives up to `count` datagrams with one `recvmmsg`, the i-th into the `slotSize`
    /// bytes at `base + i × slotSize`. Returns how many arrived; read each with `received(_:)`
    /// before the next call. `controlData`: also take each message's control data (the
    /// segment size of a buffer `UDP_GRO` joined).
    @inline(never)
    func receive(_ fd: Int32, into base: UnsafeMutableRawPointer, slotSize: Int, count: Int, controlData: Bool = false)
        throws -> IOResult<Int>
    {
        let count = min(count, Self.capacity)
        for index in 0..<count {
            self.vectors[index] = iovec(iov_base: base + index * slotSize, iov_len: slotSize)
            var header = msghdr()
            // SAFETY: `index` < `capacity`, the length of every array here; the kernel fills the slots during
            // the `recvmmsg` below, and they are read (`received`) before the next call.
            header.msg_name = UnsafeMutableRawPointer(self.addresses + index)
            header.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
            header.msg_iov = self.vectors + index
            header.msg_iovlen = 1
            if controlData {
                header.msg_control = self.controls + index * Self.controlSize
                header.msg_controllen = Self.controlSize
            }
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
            isTruncated: message.msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0,
            segmentSize: Self.segmentSize(in: message.msg_hdr))
    }

    /// The `UDP_GRO` segment size among a message's control headers (`cmsghdr`: a `size_t`
    /// length, an int level, an int type, then the data, each header 8-byte aligned).
    private static func segmentSize(in header: msghdr) -> Int? {
        guard let control = header.msg_control, header.msg_controllen > 0 else { return nil }
        let end = Int(header.msg_controllen)
        let headerSize = MemoryLayout<Int>.size + 2 * MemoryLayout<Int32>.size
        var offset = 0
        while offset + headerSize + MemoryLayout<Int32>.size <= end {
            // SAFETY: the loop's condition keeps a header and an `Int32` of data inside the `msg_controllen`
            // bytes the kernel filled; `cmsghdr`s are 8-byte aligned.
            let length = control.load(fromByteOffset: offset, as: Int.self)
            let level = control.load(fromByteOffset: offset + 8, as: Int32.self)
            let type = control.load(fromByteOffset: offset + 12, as: Int32.self)
            if level == CLinux_SOL_UDP, type == CLinux_UDP_GRO {
                let size = Int(control.load(fromByteOffset: offset + headerSize, as: Int32.self))
                return size > 0 ? size : nil
            }
            guard length >= headerSize else { return nil }
            offset += (length + 7) & ~7
        }
        return nil
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
