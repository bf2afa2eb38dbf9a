import Pool

#if ServiceLifecycleSupport
    public import ServiceLifecycle

    /// A server set runs as a swift-service-lifecycle `Service`: `run()` waits for the group's
    /// graceful shutdown, then shuts every server's pool down (each within its own
    /// `shutdownTimeout`).
    extension MemcacheServerSet: Service {
        public func run() async throws {
            let timeout = self.pools.map(\.configuration.pool.shutdownTimeout).max() ?? .seconds(10)
            await runUntilGracefulShutdown(shutdownTimeout: timeout) { await self.shutdown(deadline: $0) }
        }
    }
#endif
