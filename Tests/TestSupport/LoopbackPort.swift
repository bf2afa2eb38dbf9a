import Foundation
import Glibc

/// A TCP socket bound (not listening) to 127.0.0.1 on a port *below* the kernel's ephemeral
/// range, with that port.
///
/// Why below: a port the kernel picked (bind to port 0) lies in the ephemeral range, and once
/// the test lets go of it the kernel may hand the same number to any outgoing connect as its
/// local port (thousands of connects run in parallel tests), or even to a probe connecting to
/// that very port (a TCP self-connect). Either holds the port and makes the test's own later
/// `bind` fail. Ports below the range are never chosen for outgoing connects, so only another
/// explicit `bind` can take them, and the caller's bind check settles that.
func bindLoopbackPortBelowEphemeralRange() throws -> (fd: Int32, port: Int) {
    let low = ephemeralRangeStart()
    let first = 10_000
    guard low > first + 1_000 else { throw TestSupportError("ephemeral range starts at \(low): no port below it") }
    for _ in 0..<200 {
        let port = Int.random(in: first..<low)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSupportError("socket failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        address.sin_port = UInt16(port).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if bound == 0 { return (fd, port) }
        close(fd)
    }
    throw TestSupportError("no free port below \(low) after 200 tries")
}

/// The first port of `/proc/sys/net/ipv4/ip_local_port_range` (Linux's default is 32768).
private func ephemeralRangeStart() -> Int {
    let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
    return range.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32_768
}
