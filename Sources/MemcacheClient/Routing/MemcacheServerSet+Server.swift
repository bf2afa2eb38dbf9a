import Pool

// A set's servers and what becomes of an ejected one's keys.
extension MemcacheServerSet {
    /// A server of the set: where it is and its share of the keys.
    public struct Server: Sendable, Hashable, CustomStringConvertible {
        /// As the other clients spell it: the spelling is part of the placement.
        public var host: String
        public var port: Int
        /// Its share of the keys relative to the others (libmemcached's server weight).
        public var weight: Int

        public init(host: String, port: Int = 11211, weight: Int = 1) {
            self.host = host
            self.port = port
            self.weight = max(1, weight)
        }

        /// `host:port`, as logs and metrics name it.
        public var address: String { "\(self.host):\(self.port)" }

        public var description: String { self.weight == 1 ? self.address : "\(self.address) (weight \(self.weight))" }
    }

    /// What happens to the keys of an ejected server.
    public enum FailurePolicy: Sendable, Equatable {
        /// They fail at once (`MemcacheError.connectFailed`); they never move.
        case failFast
        /// They move to the next server on the ring of the remaining servers.
        case rehash
    }
}
