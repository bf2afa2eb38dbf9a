import ArgumentParser
import Channels
import Codecs
import Foundation
import Logging
import MemcacheClient
import MemcacheServer
import Pool
import Prometheus
import UnixSignals

struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a memcache server through MemcachePool and report throughput and latency.",
        discussion: """
            With no --server, starts the embedded server on a free loopback port first (its own loops), so \
            it needs nothing installed. The keys are stored once, then --concurrency callers issue gets and \
            sets on random keys for --duration seconds. Ctrl-C (SIGINT) ends the run early with the summary of \
            what ran; a second one exits at once. Exits non-zero when any operation failed, and with one line \
            and status 1 when the keys cannot be stored (e.g. the server cannot be reached). Callers on a \
            loop time their operations by its turns (one clock read per turn, as epoll load tools do), others \
            by a clock read each.
            """
    )

    @OptionGroup var target: ServerOptions
    @OptionGroup var logging: LoggingOptions
    @Option(help: "Event loops (threads) of the client.") var loops = 2
    @Option(help: "Pool connections per loop.") var connectionsPerLoop = 4
    @Option(help: "Concurrent callers.") var concurrency = 64
    @Option(help: "Seconds to run.") var duration = 10.0
    @Option(help: "Gets to sets, as GETS:SETS.") var ratio = "9:1"
    @Option(help: "Bytes per value.") var valueSize = 100
    @Flag(help: "Serve hot keys from a per-loop cache for up to 1 s (MemcacheHotKeyCache); try with --keys 1.")
    var hotKeyCache = false
    @Flag(help: "Values are JSON documents (records of ids, names, tags, scores) rather than a repeated alphabet.")
    var valueJSON = false
    @Option(help: "Distinct keys.") var keys = 10_000
    @Option(help: "Requests pipelined per connection (1: exclusive leases; default: the pool's, named in the header).")
    var pipelineDepth: Int?
    @Option(help: "Seconds a request may wait for its reply.") var responseTimeout = 5.0
    @Option(help: "Seconds a request may wait for a free connection.") var leaseTimeout = 10.0
    @Flag(help: "Run callers as plain tasks instead of on the pool's loops.") var plainTasks = false
    @Flag(
        help:
            "With --plain-tasks: tasks a loop resumes while it reads continue on that loop (EventLoopGroup.keepResumedTasksOnLoops())."
    )
    var resumeOnLoops = false
    @Flag(help: "Print one JSON object instead of the table.") var json = false
    @Option(
        help:
            "Pool metrics: on (to swift-metrics' global factory, a no-op unless bootstrapped), off, or prometheus (a swift-prometheus registry as the backend, to measure what metrics cost)."
    )
    var metrics: MetricsMode = .on
    @Option(
        help:
            "Also write the run's latency histogram to this file, in HdrHistogram's percentile-distribution format (.hgrm, milliseconds)."
    )
    var hdrFile: String?

    func validate() throws {
        guard !self.target.tls || self.target.server != nil else {
            throw ValidationError("--tls needs --server (the embedded server speaks plain TCP)")
        }
        guard self.parsedRatio != nil else {
            throw ValidationError("--ratio is GETS:SETS, e.g. 9:1 (each 0...\(OptionBounds.ratioWeight.upperBound))")
        }
        try OptionBounds.check(self.loops, "--loops", in: OptionBounds.loops)
        try OptionBounds.check(self.connectionsPerLoop, "--connections-per-loop", in: OptionBounds.connections)
        try OptionBounds.check(self.concurrency, "--concurrency", in: OptionBounds.callers)
        try OptionBounds.check(self.valueSize, "--value-size", in: OptionBounds.valueBytes)
        try OptionBounds.check(self.keys, "--keys", in: OptionBounds.keys)
        if let depth = self.pipelineDepth {
            try OptionBounds.check(depth, "--pipeline-depth", in: OptionBounds.pipelineDepth)
        }
        guard self.duration > 0, self.responseTimeout > 0, self.leaseTimeout > 0, self.target.connectTimeout > 0 else {
            throw ValidationError(
                "--duration, --response-timeout, --lease-timeout and --connect-timeout must be positive")
        }
        guard !self.resumeOnLoops || self.plainTasks else {
            throw ValidationError("--resume-on-loops is for --plain-tasks (callers on the loops are there already)")
        }
    }

    private var parsedRatio: (Int, Int)? {
        let parts = self.ratio.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 2, parts.allSatisfy(OptionBounds.ratioWeight.contains), parts[0] + parts[1] > 0 else {
            return nil
        }
        return (parts[0], parts[1])
    }

    func run() async throws {
        if self.resumeOnLoops, !EventLoopGroup.keepResumedTasksOnLoops() {
            throw ValidationError("--resume-on-loops: another library holds the runtime's global-enqueue hook")
        }
        self.logging.bootstrap(defaultLevel: .error)
        let stop = BenchStop()
        // Trapped for the whole command: the first Ctrl-C ends the run early (the summary of
        // what ran is printed), a second one exits at once.
        let signals = await UnixSignalsSequence(trapping: .sigint)
        let watcher = Task {
            var caught = 0
            for await _ in signals {
                caught += 1
                if caught > 1 { Foundation.exit(130) }
                stop.request()
                if !self.json {
                    let clearLine = Terminal.isInteractive(.standardError) ? "\r\u{1B}[K" : ""
                    writeProgress(clearLine + "mcpool bench: stopping (Ctrl-C again to quit at once)\n")
                }
            }
        }
        defer { watcher.cancel() }
        // A path that cannot be written fails now, not after the run.
        if let path = self.hdrFile, !FileManager.default.createFile(atPath: path, contents: nil) {
            printError("mcpool bench: cannot write --hdr-file \(path)")
            throw ExitCode.failure
        }
        let report: BenchReport
        do {
            report = try await self.execute(stop: stop)
        } catch let error as BenchSetupError {
            printError("mcpool bench: \(error)")
            throw ExitCode.failure
        }
        print(self.json ? report.json() : report.table())
        if let path = self.hdrFile {
            do {
                try report.percentileDistribution().write(toFile: path, atomically: true, encoding: .utf8)
            } catch {
                printError("mcpool bench: cannot write --hdr-file \(path): \(error)")
                throw ExitCode.failure
            }
        }
        if report.tally.errorCount > 0 { throw ExitCode.failure }
    }

    /// Starts the embedded server when no --server is given, runs the workload through a
    /// `MemcachePool` (or a `MemcacheServerSet` for a ring), shuts everything down and returns
    /// what was measured.
    /// - Throws: `BenchSetupError` when the keys cannot be stored before the run.
    func execute(stop: BenchStop = BenchStop()) async throws -> BenchReport {
        // Whatever can fail on bad input fails before any thread starts.
        let connectTimeout = TimeAmount(seconds: self.target.connectTimeout)
        let tls = try self.target.tlsContext(handshakeTimeout: connectTimeout)
        let credentials = try self.target.credentials()
        var embedded: (server: InProcessMemcacheServer, group: EventLoopGroup)?
        let endpoint: ServerEndpoint
        let ring = try self.target.ring()
        if self.target.server == nil && ring == nil {
            let serverGroup = try EventLoopGroup(loopCount: self.loops)
            do {
                let server = try await InProcessMemcacheServer.start(group: serverGroup, configuration: .init(port: 0))
                embedded = (server, serverGroup)
                endpoint = .tcp(host: "127.0.0.1", port: server.localAddress.port)
            } catch {
                try? await serverGroup.shutdownGracefully()
                throw error
            }
        } else if let first = ring?.first {
            endpoint = .tcp(host: first.host, port: first.port) // the template; each server sets its own
        } else {
            endpoint = try self.target.endpoint()
        }
        let group = try EventLoopGroup(loopCount: self.loops)
        let connections = self.loops * self.connectionsPerLoop
        var configuration =
            switch endpoint {
            case .tcp(let host, let port):
                MemcachePool.Configuration(host: host, port: port, maxConnections: connections, tls: tls)
            case .unix(let path):
                MemcachePool.Configuration(unixSocketPath: path, maxConnections: connections, tls: tls)
            }
        configuration.pool.maxConnectionsPerLoop = self.connectionsPerLoop
        configuration.pool.logger = Logger(label: "mcpool.bench") // to stderr at --log-level
        configuration.wireProtocol = self.target.wireProtocol
        configuration.credentials = credentials
        if let depth = self.pipelineDepth { configuration.pool.maxConcurrentLeasesPerConnection = depth }
        configuration.pool.maxWaitersPerLoop = max(10_000, self.concurrency)
        configuration.responseTimeout = TimeAmount(seconds: self.responseTimeout)
        configuration.pool.leaseTimeout = TimeAmount(seconds: self.leaseTimeout)
        configuration.pool.connectTimeout = connectTimeout
        configuration.pool.reportsMetrics = self.metrics != .off
        if self.metrics == .prometheus {
            configuration.pool.metricsFactory = PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())
        }

        var workload = BenchWorkload()
        workload.concurrency = self.concurrency
        workload.duration = TimeAmount(seconds: self.duration)
        (workload.getWeight, workload.setWeight) = self.parsedRatio ?? (9, 1)
        workload.valueSize = self.valueSize
        workload.valueIsJSON = self.valueJSON
        workload.keyCount = self.keys
        workload.callersOnLoops = !self.plainTasks

        let outcome: (measurement: BenchMeasurement, statistics: PoolStatistics.Loop, preload: (any Error)?)
        let serverName: String
        if self.target.udp {
            // memcached's UDP protocol: one socket, requests of every caller in its datagrams.
            let client = try await self.target.udpClient(
                group: group, responseTimeout: TimeAmount(seconds: self.responseTimeout))
            serverName = "\(endpoint) over UDP"
            self.printHeader(serverName)
            if self.target.namespace != nil || self.target.compress != .none {
                outcome = try await self.measure(
                    try self.target.layered(client), group: group, workload: workload, stop: stop
                ) { PoolStatistics.Loop.zero }
            } else {
                // The client's own type, so the runner is specialised for it.
                outcome = try await self.measure(client, group: group, workload: workload, stop: stop) {
                    PoolStatistics.Loop.zero
                }
            }
            try? await client.close()
        } else if let servers = ring {
            // A ketama ring: one pool per server, each configured as the single pool would be.
            let template = configuration
            let set = MemcacheServerSet(
                servers: servers, maxConnectionsPerServer: connections, group: group,
                logger: Logger(label: "mcpool.bench")
            ) { server in
                let (host, port) = (server.host, server.port)
                server = template
                (server.host, server.port) = (host, port)
            }
            let gutter = try self.target.gutterServer().map { server in
                var gutter = template
                (gutter.host, gutter.port) = (server.host, server.port)
                return MemcachePool(configuration: gutter, group: group)
            }
            serverName = self.target.ringName(servers)
            self.printHeader(serverName)
            let cache = try self.target.layered(self.target.routes(over: set, gutter: gutter))
            // A --servers-file is watched while the run lasts: edits apply to the ring live.
            let watcher = self.target.serversFile.map { path in
                let discovery = MemcacheServerDiscovery(
                    set: set, source: .file(path: path),
                    interval: TimeAmount(seconds: self.target.serversFileInterval),
                    logger: Logger(label: "mcpool.bench"))
                return Task { await discovery.refreshPeriodically() }
            }
            outcome = try await self.measure(cache, group: group, workload: workload, stop: stop) {
                await set.statistics().total
            }
            watcher?.cancel()
            await watcher?.value
            await set.shutdown()
            await gutter?.shutdown()
        } else {
            let pool = MemcachePool(configuration: configuration, group: group)
            serverName = embedded == nil ? "\(endpoint)" : "embedded server on \(endpoint)"
            self.printHeader(serverName)
            if self.target.namespace != nil || self.target.compress != .none || self.hotKeyCache {
                let layered = try self.target.layered(pool)
                let cache: any MemcacheRequestSender =
                    self.hotKeyCache ? MemcacheHotKeyCache(over: layered, group: group) : layered
                outcome = try await self.measure(cache, group: group, workload: workload, stop: stop) {
                    await pool.statistics().total
                }
            } else {
                // The pool's own type, so the runner is specialised for it (the main job).
                let runner = try BenchRunner(pool: pool, group: group, workload: workload, stop: stop)
                outcome = await self.measure(runner) { await pool.statistics().total }
            }
            await pool.shutdown()
        }
        if let embedded {
            await embedded.server.shutdown()
            try? await embedded.group.shutdownGracefully()
        }
        try? await group.shutdownGracefully()
        if let preload = outcome.preload { throw BenchSetupError(server: serverName, cause: preload) }
        let measurement = outcome.measurement
        let statistics = outcome.statistics

        return BenchReport(
            tally: measurement.tally, elapsed: measurement.elapsed, stoppedEarly: measurement.stoppedEarly,
            // The client's own CPU is known only when no embedded server shares the process.
            cpuTime: embedded == nil ? measurement.cpuTime : nil,
            pool: statistics, server: serverName)
    }

    /// `--pipeline-depth`, or the pool's default when it is not given.
    private var effectivePipelineDepth: Int {
        self.pipelineDepth ?? MemcachePool.Configuration(host: "").pool.maxConcurrentLeasesPerConnection
    }

    private func printHeader(_ serverName: String) {
        guard !self.json else { return }
        print(
            "mcpool bench: \(serverName)\(self.target.tls ? " (TLS)" : ""), \(self.loops) loops × \(self.connectionsPerLoop) connections of up to \(self.effectivePipelineDepth) requests, \(self.concurrency) callers, \(self.ratio) get:set, \(self.valueSize) B values, \(self.keys) keys"
        )
        fflush(nil) // all streams: the header is seen at once when piped, not with the summary
    }

    /// `measure` through any sender (its type opened here, so the runner is specialised).
    private func measure<Cache: MemcacheRequestSender>(
        _ cache: Cache, group: EventLoopGroup, workload: BenchWorkload, stop: BenchStop,
        statistics: @escaping @Sendable () async -> PoolStatistics.Loop
    ) async throws -> (measurement: BenchMeasurement, statistics: PoolStatistics.Loop, preload: (any Error)?) {
        let runner = try BenchRunner(pool: cache, group: group, workload: workload, stop: stop)
        return await self.measure(runner, statistics: statistics)
    }

    /// Preloads the keys and, when that worked, runs the callers; then reads the counters.
    private func measure<Cache>(
        _ runner: BenchRunner<Cache>, statistics: @escaping @Sendable () async -> PoolStatistics.Loop
    ) async -> (measurement: BenchMeasurement, statistics: PoolStatistics.Loop, preload: (any Error)?) {
        do {
            try await runner.preload()
        } catch {
            return (BenchMeasurement(), await statistics(), error)
        }
        let progress = !self.json && Terminal.isInteractive(.standardError)
        let measurement = await runner.run(
            progress: progress ? Self.progressLine(statistics: statistics, duration: runner.workload.duration) : nil)
        if progress { writeProgress("\r\u{1B}[K") }
        return (measurement, await statistics(), nil)
    }
}

extension Bench {
    /// Rewrites one line of standard error, called once a second with the running totals:
    /// `  3 s of 10 s  409211 ops/s, 1227633 done, 0 errors, 0 callers waiting for a connection`.
    static func progressLine(
        statistics: @escaping @Sendable () async -> PoolStatistics.Loop, duration: TimeAmount
    ) -> @Sendable (TimeAmount, Int, Int) async -> Void {
        let previous = LockedValue((operations: 0, elapsed: TimeAmount.zero))
        return { elapsed, operations, errors in
            let last = previous.withLock { last in
                defer { last = (operations, elapsed) }
                return last
            }
            let seconds = Double((elapsed - last.elapsed).nanoseconds) / 1e9
            let rate = seconds > 0 ? Int((Double(operations - last.operations) / seconds).rounded()) : 0
            let waiting = await statistics().waiting
            writeProgress(
                "\r\u{1B}[K  \(Int((Double(elapsed.nanoseconds) / 1e9).rounded())) s of \(duration)"
                    + "  \(rate) ops/s, \(operations) done, \(errors) errors, \(waiting) callers waiting for a connection"
            )
        }
    }
}

/// The keys could not be stored before the run (the server cannot be reached, refuses the
/// sets, …): there is nothing to measure, so `mcpool bench` says so in one line and exits 1.
struct BenchSetupError: Error, CustomStringConvertible {
    let server: String
    let cause: any Error

    var description: String { "cannot store the keys on \(self.server): \(self.cause)" }
}

/// Standard error, unbuffered: progress and diagnostics.
func writeProgress(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

func printError(_ text: String) {
    writeProgress(text + "\n")
}

/// `mcpool bench --metrics`: where the pool's metrics go.
enum MetricsMode: String, ExpressibleByArgument, CaseIterable {
    case on, off, prometheus
}
