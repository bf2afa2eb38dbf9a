import CLinux
import Glibc

extension Posix {
    /// Reads into `buffer`; `.processed(0)` is end of input.
    @inline(never)
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws -> IOResult<Int> {
        // SAFETY: the kernel writes at most `buffer.count` bytes into the caller's buffer, during the call.
        try syscall("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// Writes one buffer. `MSG_NOSIGNAL` keeps a closed peer from raising `SIGPIPE`.
    @inline(never)
    static func write(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws -> IOResult<Int> {
        // SAFETY: the kernel reads at most `buffer.count` bytes of the caller's buffer, during the call.
        try syscall("send") { Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
    }
}

/// A fixed array of `iovec`s reused for every gathering write of one event loop.
///
/// Loop-confined: use only on the thread of the loop that owns it.
final class IOVectors {
    /// How many buffers one `writev` takes at most (well under `IOV_MAX`, 1024).
    static let capacity = 64
    private let vectors: UnsafeMutablePointer<iovec>

    init() {
        self.vectors = .allocate(capacity: Self.capacity)
    }

    deinit {
        self.vectors.deallocate()
    }

    /// Gathers up to `capacity` buffers from `next` and writes them with one `sendmsg` (one
    /// buffer: one `send`).
    ///
    /// `next(i)` returns the i-th buffer or nil when there are no more. The buffers must stay
    /// alive and unchanged until this returns.
    @inline(never)
    func write(_ fd: Int32, next: (Int) -> UnsafeRawBufferPointer?) throws -> IOResult<Int> {
        var count = 0
        while count < Self.capacity, let buffer = next(count) {
            // SAFETY: iovec wants a mutable pointer by C's signature; the kernel only reads it.
            self.vectors[count] = iovec(
                iov_base: UnsafeMutableRawPointer(mutating: buffer.baseAddress), iov_len: buffer.count)
            count += 1
        }
        if count == 0 { return .processed(0) }
        if count == 1 {
            // One buffer (a reply, a turn's batch of requests): `send` skips building and
            // copying in a message header, the kernel's cheaper path for the same write.
            return try syscall("send") {
                Glibc.send(fd, self.vectors[0].iov_base, self.vectors[0].iov_len, Int32(MSG_NOSIGNAL))
            }
        }
        var message = msghdr()
        message.msg_iov = self.vectors
        message.msg_iovlen = count
        // sendmsg rather than writev: the same gathering write, but with MSG_NOSIGNAL.
        return try syscall("writev") { Glibc.sendmsg(fd, &message, Int32(MSG_NOSIGNAL)) }
    }
}
