/// libketama-compatible consistent hashing, as libmemcached computes it with
/// `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED`, so a Swift client places keys where existing C, PHP
/// and Python clients of the same servers do.
///
/// Thread-safe (a value). Each server gets 160 points (weights equal): for `i` in 0..<40 the
/// MD5 of `"host:port-i"` — `"host-i"` when the port is 11211 — gives four points, one per
/// 4-byte little-endian slice of the digest. A key hashes to the first four bytes of its MD5
/// and goes to the first point at or after it, wrapping around.
///
/// ```swift
/// let ring = KetamaRing(servers: [("10.0.0.1", 11211), ("10.0.0.2", 11211)])
/// let index = ring.serverIndex(for: Array("user:42".utf8))
/// ```
public struct KetamaRing: Sendable {
    private struct Point: Comparable {
        let value: UInt32
        let server: Int
        static func < (lhs: Point, rhs: Point) -> Bool {
            (lhs.value, lhs.server) < (rhs.value, rhs.server)
        }
    }

    private let points: [Point]
    public let serverCount: Int

    /// - Parameter servers: host (as the other clients spell it) and port, in order.
    public init(servers: [(host: String, port: Int)]) {
        var points: [Point] = []
        points.reserveCapacity(servers.count * 160)
        for (index, server) in servers.enumerated() {
            for pointIndex in 0..<40 {
                let name = server.port == 11211 ? "\(server.host)-\(pointIndex)" : "\(server.host):\(server.port)-\(pointIndex)"
                let digest = MD5.digest(Array(name.utf8))
                for slice in 0..<4 {
                    points.append(Point(value: Self.word(digest, at: slice * 4), server: index))
                }
            }
        }
        self.points = points.sorted()
        self.serverCount = servers.count
    }

    /// The index (into the `servers` given at init) of the server for `key`.
    public func serverIndex<Key: Collection>(for key: Key) -> Int where Key.Element == UInt8 {
        guard !self.points.isEmpty else { return 0 }
        let hash = MD5.firstWord(key)
        var low = 0, high = self.points.count
        while low < high {
            let middle = (low + high) / 2
            if self.points[middle].value < hash { low = middle + 1 } else { high = middle }
        }
        return self.points[low == self.points.count ? 0 : low].server
    }

    private static func word(_ digest: [UInt8], at offset: Int) -> UInt32 {
        UInt32(digest[offset + 3]) << 24 | UInt32(digest[offset + 2]) << 16 | UInt32(digest[offset + 1]) << 8
            | UInt32(digest[offset])
    }
}
