import CLinux
import Glibc

/// Socket system calls. Every descriptor is created non-blocking and close-on-exec in the
/// same call, so no other thread's `fork`/`exec` can inherit it.
enum Posix {
    @inline(never)
    static func socket(family: Int32) throws -> Int32 {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        return try syscallBlocking("socket") { Glibc.socket(family, type, 0) }
    }

    @inline(never)
    static func bind(_ fd: Int32, to address: SocketAddress) throws {
        _ = try address.withSockAddr { pointer, length in
            try syscallBlocking("bind") { Glibc.bind(fd, pointer, length) }
        }
    }

    @inline(never)
    static func listen(_ fd: Int32, backlog: Int32) throws {
        _ = try syscallBlocking("listen") { Glibc.listen(fd, backlog) }
    }

    /// Accepts one connection; nil when none is waiting.
    @inline(never)
    static func accept(_ fd: Int32) throws -> Int32? {
        let flags = Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        switch try syscall("accept4", { CLinux_accept4(fd, flags) }) {
        case .processed(let child): return child
        case .wouldBlock: return nil
        }
    }

    /// Starts a connect. Returns true when it completed at once, false when it is in progress
    /// (`EINPROGRESS`): wait for writability, then read `SO_ERROR`.
    @inline(never)
    static func connect(_ fd: Int32, to address: SocketAddress) throws -> Bool {
        try address.withSockAddr { pointer, length in
            while true {
                if Glibc.connect(fd, pointer, length) == 0 { return true }
                let code = errno
                switch code {
                case EINTR: continue
                case EINPROGRESS: return false
                default: throw IOError(errnoCode: code, call: "connect")
                }
            }
        }
    }

    /// Shuts down one or both directions. `ENOTCONN` (the peer already went away) is not an
    /// error for us: the direction is closed either way.
    @inline(never)
    static func shutdown(_ fd: Int32, output: Bool, input: Bool) throws {
        let how: Int32 = output && input ? Int32(SHUT_RDWR) : (output ? Int32(SHUT_WR) : Int32(SHUT_RD))
        if Glibc.shutdown(fd, how) == -1, errno != ENOTCONN {
            throw IOError(errnoCode: errno, call: "shutdown")
        }
    }

    /// Closes a descriptor. Linux releases the descriptor even when close reports `EINTR`, so
    /// close is never retried (a retry could close a descriptor another thread just opened).
    @inline(never)
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }

    @inline(never)
    static func localAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.getsockname(fd, $0, &length) }
        }
        return rc == 0 ? SocketAddress(storage: &storage, length: length) : nil
    }

    @inline(never)
    static func remoteAddress(_ fd: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.getpeername(fd, $0, &length) }
        }
        return rc == 0 ? SocketAddress(storage: &storage, length: length) : nil
    }

    /// Creates a connected pair of local stream sockets (for tests and in-process pipes).
    @inline(never)
    static func socketPair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        _ = try syscallBlocking("socketpair") { Glibc.socketpair(AF_UNIX, type, 0, &fds) }
        return (fds[0], fds[1])
    }
}
