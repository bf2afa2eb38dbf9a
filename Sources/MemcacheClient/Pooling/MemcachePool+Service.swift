import Pool

#if ServiceLifecycleSupport
    public import ServiceLifecycle

    /// A `MemcachePool` runs as a swift-service-lifecycle `Service`, like `ConnectionPool`:
    /// `run()` waits for the group's graceful shutdown, then lets the requests in flight finish
    /// within `configuration.pool.shutdownTimeout` and closes the connections. A call made after
    /// that fails with `MemcacheError.shutdown`.
    ///
    /// ```swift
    /// let cache = MemcachePool(host: "127.0.0.1", port: 11211, group: group)
    /// let services = ServiceGroup(services: [cache, app], gracefulShutdownSignals: [.sigterm], logger: logger)
    /// try await services.run()
    /// ```
    extension MemcachePool: Service {
        public func run() async throws {
            await runUntilGracefulShutdown(shutdownTimeout: self.configuration.pool.shutdownTimeout) {
                await self.shutdown(deadline: $0)
            }
        }
    }
#endif
