#if ServiceLifecycleSupport
    package import Channels
    public import ServiceLifecycle

    /// A pool runs as a swift-service-lifecycle `Service`: `run()` waits until the group shuts
    /// down gracefully, then stops leasing, lets leased work finish within
    /// `configuration.shutdownTimeout` and closes every connection. Cancelled instead (the
    /// group gave up on graceful shutdown), it closes them at once.
    ///
    /// ```swift
    /// let pool = ConnectionPool<LineConnection>(group: group, configuration: configuration, factory: connect)
    /// let services = ServiceGroup(services: [pool, myServer], gracefulShutdownSignals: [.sigterm], logger: logger)
    /// try await services.run()
    /// ```
    extension ConnectionPool: Service {
        public func run() async throws {
            await runUntilGracefulShutdown(shutdownTimeout: self.configuration.shutdownTimeout) {
                await self.shutdown(deadline: $0)
            }
        }
    }

    /// Waits for graceful shutdown (or cancellation), then calls `shutdown` with the time leased
    /// work may still take: `shutdownTimeout`, or none when the task was cancelled.
    package func runUntilGracefulShutdown(shutdownTimeout: TimeAmount, _ shutdown: (TimeAmount) async -> Void) async {
        // Throws only CancellationError, when the task is cancelled before graceful shutdown.
        let cancelled = (try? await gracefulShutdown()) == nil
        await shutdown(cancelled ? .zero : shutdownTimeout)
    }
#endif
