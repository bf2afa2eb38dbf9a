public import Channels
public import Codecs

// A multi-get larger than one request may carry: cut into requests, a bounded number at once.
extension MemcachePool {
    /// The values of every present key. Up to `configuration.multiGet.maximumKeys` keys go in
    /// one request; more are cut into requests of that many, at most
    /// `multiGet.maximumInFlight` of them at once (a huge multi-get would hold one of the
    /// server's workers, and one connection, for all its keys).
    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        let limits = self.configuration.multiGet
        guard keys.count > limits.maximumKeys else { return try await self.getManyInOneRequest(keys) }
        return try await withThrowingTaskGroup(of: [MemcacheKey: ByteBuffer].self) { tasks in
            var found: [MemcacheKey: ByteBuffer] = [:]
            var running = 0
            for start in stride(from: 0, to: keys.count, by: limits.maximumKeys) {
                if running == limits.maximumInFlight, let part = try await tasks.next() {
                    found.merge(part) { first, _ in first }
                    running -= 1
                }
                let part = Array(keys[start..<min(start + limits.maximumKeys, keys.count)])
                tasks.addTask { try await self.getManyInOneRequest(part) }
                running += 1
            }
            for try await part in tasks { found.merge(part) { first, _ in first } }
            return found
        }
    }
}
