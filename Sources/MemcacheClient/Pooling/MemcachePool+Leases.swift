public import Codecs
import Logging
import Pool

// The commands that run on one leased connection rather than one request at a time: several
// commands in a row (`withConnection`), and bulk writes, whose exchanges are pipelined there.
extension MemcachePool {
    /// A bulk write (`setMany`, `deleteMany`) runs on one leased connection: its exchanges
    /// are pipelined there, and a nudge for a stalled server (see `MemcacheBulkWrite`) goes
    /// to the connection that waits for it.
    public func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
        MemcacheError]
    {
        try await self.withConnection(idempotent: false) { connection in
            try await connection.writeMany(commands, limits: limits)
        }
    }

    /// Runs several commands on one pooled connection (for example a read-modify-write with
    /// CAS), retrying once on another connection when `idempotent` and the connection died
    /// before answering.
    public func withConnection<T: Sendable>(
        idempotent: Bool, _ commands: (MemcacheConnection) async throws -> T
    ) async throws -> T {
        do {
            return try await self.leasingConnection(commands)
        } catch  where idempotent && self.configuration.retryIdempotent && Self.closedBeforeReply(error) {
            self.logger.debug("retrying the commands on another connection", metadata: ["error": "\(error)"])
            return try await self.leasingConnection(commands)
        }
    }

    private func leasingConnection<T: Sendable>(_ commands: (MemcacheConnection) async throws -> T) async throws -> T {
        let lease: ConnectionLease<MemcachePooledConnection>
        do {
            lease = try await self.connections.lease()
        } catch {
            throw Self.memcacheError(error)
        }
        do {
            let result = try await commands(lease.connection.memcache)
            lease.release()
            return result
        } catch {
            lease.release()
            throw error
        }
    }
}
