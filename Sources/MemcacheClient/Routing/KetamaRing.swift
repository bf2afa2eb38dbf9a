import Pool

/// libketama-compatible consistent hashing, as libmemcached computes it with
/// `MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED` (and twemproxy with `distribution: ketama`), so a
/// Swift client places keys where existing C, PHP and Python clients of the same servers do.
///
/// Thread-safe (a value). A server of weight `w` out of a total `W` over `n` servers gets
/// `floor(w / W × 160 / 4 × n) × 4` points, computed in single precision as libmemcached does
/// (160 each when the weights are equal). For `i` in 0..<points/4 the MD5 of `"host:port-i"`
/// — `"host-i"` when the port is 11211 — gives four points, one per 4-byte little-endian
/// slice of the digest. A key hashes to the first four bytes of its MD5 and goes to the first
/// point at or after it, wrapping around.
///
/// ```swift
/// let ring = KetamaRing(servers: [("10.0.0.1", 11211), ("10.0.0.2", 11211)])
/// let index = ring.serverIndex(for: Array("user:42".utf8))
/// let weighted = KetamaRing(weightedServers: [("10.0.0.1", 11211, 1), ("10.0.0.2", 11211, 3)])
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

    /// - Parameter servers: host (as the other clients spell it) and port, in order; equal weights.
    public init(servers: [(host: String, port: Int)]) {
        self.init(weightedServers: servers.map { ($0.host, $0.port, 1) })
    }

    /// - Parameter servers: host, port and weight (1 to `UInt32.max`, libmemcached's range:
    ///   outside it, the nearer end), in order.
    public init(weightedServers servers: [(host: String, port: Int, weight: Int)]) {
        // Within 32 bits each, the total of any number of weights fits an Int.
        let weights = servers.map { min(max(1, $0.weight), Int(UInt32.max)) }
        let totalWeight = weights.reduce(0, +)
        var points: [Point] = []
        points.reserveCapacity(servers.count * 160)
        for (index, server) in servers.enumerated() {
            let hashes =
                Self.pointCount(weight: weights[index], totalWeight: totalWeight, servers: servers.count) / 4
            for pointIndex in 0..<hashes {
                let name =
                    server.port == 11211
                    ? "\(server.host)-\(pointIndex)" : "\(server.host):\(server.port)-\(pointIndex)"
                let digest = MD5.digest(Array(name.utf8))
                for slice in 0..<4 {
                    points.append(Point(value: Self.word(digest, at: slice * 4), server: index))
                }
            }
        }
        self.points = points.sorted()
        self.serverCount = servers.count
    }

    /// libmemcached's points for one server, in its arithmetic: `float` all the way except
    /// the tiny `double` nudge before the floor (so equal weights over 3 servers give 160,
    /// not 159.99998 rounded down).
    static func pointCount(weight: Int, totalWeight: Int, servers: Int) -> Int {
        let share = Float(weight) / Float(totalWeight)
        let scaled = Float(Double(share * 160 / 4 * Float(servers)) + 0.0000000001)
        return Int(scaled.rounded(.down)) * 4
    }

    /// The index (into the `servers` given at init) of the server for `key`.
    public func serverIndex<Key: Collection>(for key: Key) -> Int where Key.Element == UInt8 {
        self.serverIndex(forHash: MD5.firstWord(key))
    }

    /// The index of the server for a key whose ketama hash (`MD5.firstWord`) is `hash`.
    func serverIndex(forHash hash: UInt32) -> Int {
        guard !self.points.isEmpty else { return 0 }
        return self.points[self.pointIndex(forHash: hash)].server
    }

    /// The first point at or after `hash`, wrapping around (the ring must have points).
    func pointIndex(forHash hash: UInt32) -> Int {
        var low = 0
        var high = self.points.count
        while low < high {
            let middle = (low + high) / 2
            if self.points[middle].value < hash { low = middle + 1 } else { high = middle }
        }
        return low == self.points.count ? 0 : low
    }

    /// The indices of up to `count` distinct servers for a key whose ketama hash is `hash`: its
    /// own server first, then the next distinct servers met walking the ring clockwise (where
    /// the replicas of a key live, as libmemcached places them).
    func serverIndices(forHash hash: UInt32, count: Int) -> [Int] {
        guard !self.points.isEmpty, count > 0 else { return [] }
        return self.serverIndices(atPoint: self.pointIndex(forHash: hash), count: count)
    }

    /// The copies' servers of every point, `count` a point (fewer servers than `count`: every
    /// server), flat: point `p`'s are `table[p * width ..< (p + 1) * width]`, -1 where a ring
    /// with a pointless server (a tiny weight) has fewer. Built once per ring, so that finding
    /// a key's copies is one search and no walk.
    func replicaTable(count: Int) -> (table: [Int], width: Int) {
        let width = min(max(1, count), self.serverCount)
        var table: [Int] = []
        table.reserveCapacity(self.points.count * width)
        for point in self.points.indices {
            let servers = self.serverIndices(atPoint: point, count: width)
            table += servers + Array(repeating: -1, count: width - servers.count)
        }
        return (table, width)
    }

    private func serverIndices(atPoint start: Int, count: Int) -> [Int] {
        let wanted = min(count, self.serverCount)
        var indices: [Int] = []
        indices.reserveCapacity(wanted)
        var position = start
        for _ in 0..<self.points.count where indices.count < wanted {
            let server = self.points[position].server
            if !indices.contains(server) { indices.append(server) }
            position = position + 1 == self.points.count ? 0 : position + 1
        }
        return indices
    }

    private static func word(_ digest: [UInt8], at offset: Int) -> UInt32 {
        UInt32(digest[offset + 3]) << 24 | UInt32(digest[offset + 2]) << 16 | UInt32(digest[offset + 1]) << 8
            | UInt32(digest[offset])
    }
}
