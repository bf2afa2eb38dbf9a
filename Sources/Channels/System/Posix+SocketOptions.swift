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
    /// `TCP_KEEPIDLE`: seconds of idleness before the first keep-alive probe.
    case keepAliveIdle(Int32)
    /// `TCP_KEEPINTVL`: seconds between probes.
    case keepAliveInterval(Int32)
    /// `TCP_KEEPCNT`: unanswered probes before the connection is dropped.
    case keepAliveCount(Int32)
    /// `TCP_USER_TIMEOUT`: milliseconds sent data may stay unacknowledged (0: the kernel's default).
    case userTimeout(UInt32)
    /// `TCP_NOTSENT_LOWAT`: unsent bytes below which the socket reports writable.
    case notSentLowWatermark(Int32)
    /// `IP_TOS`, or `IPV6_TCLASS` on an IPv6 socket.
    case typeOfService(Int32, ipv6: Bool)
    /// `UDP_SEGMENT`: sends longer than this are cut into datagrams of this size (GSO).
    case udpSegment(Int32)
    /// `UDP_GRO`: the kernel may hand over several datagrams of one flow as one buffer.
    case udpReceiveOffload(Bool)

    /// The option's level and name, for reading it back.
    var levelAndName: (level: Int32, name: Int32) {
        let tcp = Int32(IPPROTO_TCP)
        switch self {
        case .noDelay: return (tcp, TCP_NODELAY)
        case .reuseAddress: return (SOL_SOCKET, SO_REUSEADDR)
        case .reusePort: return (SOL_SOCKET, SO_REUSEPORT)
        case .keepAlive: return (SOL_SOCKET, SO_KEEPALIVE)
        case .linger: return (SOL_SOCKET, SO_LINGER)
        case .receiveBufferSize: return (SOL_SOCKET, SO_RCVBUF)
        case .sendBufferSize: return (SOL_SOCKET, SO_SNDBUF)
        case .keepAliveIdle: return (tcp, TCP_KEEPIDLE)
        case .keepAliveInterval: return (tcp, TCP_KEEPINTVL)
        case .keepAliveCount: return (tcp, TCP_KEEPCNT)
        case .userTimeout: return (tcp, TCP_USER_TIMEOUT)
        case .notSentLowWatermark: return (tcp, TCP_NOTSENT_LOWAT)
        case .udpSegment: return (CLinux_SOL_UDP, CLinux_UDP_SEGMENT)
        case .udpReceiveOffload: return (CLinux_SOL_UDP, CLinux_UDP_GRO)
        case .typeOfService(_, let ipv6):
            return ipv6 ? (Int32(IPPROTO_IPV6), IPV6_TCLASS) : (Int32(IPPROTO_IP), IP_TOS)
        }
    }
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
        case .keepAliveIdle(let value), .keepAliveInterval(let value), .keepAliveCount(let value),
            .notSentLowWatermark(let value):
            let (level, name) = option.levelAndName
            try ignoringNoTCP { try set(level, name, value) }
        case .typeOfService(let value, _), .udpSegment(let value):
            let (level, name) = option.levelAndName
            try set(level, name, value)
        case .udpReceiveOffload(let on):
            let (level, name) = option.levelAndName
            try set(level, name, Int32(on ? 1 : 0))
        case .userTimeout(let milliseconds):
            let (level, name) = option.levelAndName
            try ignoringNoTCP { try set(level, name, milliseconds) }
        }
    }

    /// Runs a TCP-level `setsockopt`; a Unix-domain socket, which has no TCP, ignores it
    /// (so one set of options serves both kinds of connection).
    private static func ignoringNoTCP(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as IOError where error.errnoCode == EOPNOTSUPP {
        }
    }

    /// Reads back an integer option (the kind of `option`; its value is ignored). `SO_LINGER`
    /// reads as its seconds, or -1 when lingering is off.
    @inline(never)
    static func getOption(_ fd: Int32, _ option: SocketOption) throws -> Int {
        let (level, name) = option.levelAndName
        if case .linger = option {
            var value = linger()
            var length = socklen_t(MemoryLayout<linger>.size)
            _ = try syscallBlocking("getsockopt") { Glibc.getsockopt(fd, level, name, &value, &length) }
            return value.l_onoff == 0 ? -1 : Int(value.l_linger)
        }
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        _ = try syscallBlocking("getsockopt") { Glibc.getsockopt(fd, level, name, &value, &length) }
        return Int(value)
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
