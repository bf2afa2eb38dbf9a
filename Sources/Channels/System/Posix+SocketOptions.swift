import CLinux
import Glibc

/// Socket options by their kernel names.
enum SocketOption {
    case noDelay(Bool)
    case reuseAddress(Bool)
    case reusePort(Bool)
    case keepAlive(Bool)
    /// `SO_LINGER` with the given seconds; `0` makes close send a reset.
    case linger(seconds: Int32?)
    case receiveBufferSize(Int32)
    case sendBufferSize(Int32)
}

extension Posix {
    @inline(never)
    static func setOption(_ fd: Int32, _ option: SocketOption) throws {
        func set<T: BitwiseCopyable>(_ level: Int32, _ name: Int32, _ value: T) throws {
            var value = value
            _ = try syscallBlocking("setsockopt") {
                Glibc.setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<T>.size))
            }
        }
        switch option {
        case .noDelay(let on):
            do {
                try set(Int32(IPPROTO_TCP), TCP_NODELAY, Int32(on ? 1 : 0))
            } catch let error as IOError where error.errnoCode == EOPNOTSUPP {
                // A Unix-domain socket: it has no Nagle delay to turn off.
            }
        case .reuseAddress(let on): try set(SOL_SOCKET, SO_REUSEADDR, Int32(on ? 1 : 0))
        case .reusePort(let on): try set(SOL_SOCKET, SO_REUSEPORT, Int32(on ? 1 : 0))
        case .keepAlive(let on): try set(SOL_SOCKET, SO_KEEPALIVE, Int32(on ? 1 : 0))
        case .linger(let seconds):
            try set(SOL_SOCKET, SO_LINGER, linger(l_onoff: seconds == nil ? 0 : 1, l_linger: seconds ?? 0))
        case .receiveBufferSize(let size): try set(SOL_SOCKET, SO_RCVBUF, size)
        case .sendBufferSize(let size): try set(SOL_SOCKET, SO_SNDBUF, size)
        }
    }

    /// The pending error of a socket (`SO_ERROR`), which is how a non-blocking connect reports
    /// its result. nil when there is none.
    @inline(never)
    static func pendingError(_ fd: Int32) throws -> IOError? {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try syscallBlocking("getsockopt") { Glibc.getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) }
        return code == 0 ? nil : IOError(errnoCode: code, call: "connect")
    }
}
