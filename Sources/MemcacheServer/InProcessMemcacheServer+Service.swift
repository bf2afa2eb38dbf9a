#if ServiceLifecycleSupport
    public import ServiceLifecycle

    /// The server runs as a swift-service-lifecycle `Service`: `run()` serves until the group's
    /// graceful shutdown, then stops as `shutdown(deadline:)` does within
    /// `configuration.shutdownTimeout` (at once when the task is cancelled instead).
    ///
    /// ```swift
    /// let server = try await InProcessMemcacheServer.start(group: group, configuration: .init(port: 11211))
    /// try await ServiceGroup(services: [server], gracefulShutdownSignals: [.sigterm], logger: logger).run()
    /// ```
    extension InProcessMemcacheServer: Service {
        public func run() async throws {
            // Throws only CancellationError, when the task is cancelled before graceful shutdown.
            let cancelled = (try? await gracefulShutdown()) == nil
            await self.shutdown(deadline: cancelled ? .zero : self.configuration.shutdownTimeout)
        }
    }
#endif
