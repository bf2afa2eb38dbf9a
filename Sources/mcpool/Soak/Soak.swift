import ArgumentParser
import Channels
import Codecs
import Foundation
import MemcacheClient
import Pool

struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "A long mixed load with a wrong-value checker: for scripts/soak.sh (servers restarted, networks faulted).",
        discussion: """
            Callers on the pool's loops and on plain tasks run gets, sets, multi-gets, quiet meta batches and \
            deletes against every --server given (plain, and TLS with --tls-server). Every value names its key \
            and a version taken before it was written; a call that returns any other value is a wrong value. \
            Every call must end within --hang-seconds. Each minute a row: calls, errors, wrong values, hung \
            calls, resident memory and open descriptors. Exits 1 on any wrong value or hung call, or when \
            memory or descriptors grew (last minute against the second).
            """
    )

    @Option(help: "A plain server, HOST:PORT (repeatable).") var server: [String] = []
    @Option(help: "A TLS server, HOST:PORT (repeatable; verified with --ca).") var tlsServer: [String] = []
    @Option(help: "CA certificate (PEM) for --tls-server.") var ca: String?
    @Option(help: "Minutes to run.") var minutes = 30.0
    @Option(help: "Callers per server.") var callers = 32
    @Option(help: "Distinct keys per server.") var keys = 5000
    @Option(help: "Seconds a call may take before it counts as hung.") var hangSeconds = 15.0
    @Option(help: "Seconds between report rows.") var reportSeconds = 60.0

    func validate() throws {
        guard !self.server.isEmpty || !self.tlsServer.isEmpty else {
            throw ValidationError("give at least one --server or --tls-server")
        }
        guard self.tlsServer.isEmpty || self.ca != nil else { throw ValidationError("--tls-server needs --ca") }
        try OptionBounds.check(self.callers, "--callers", in: OptionBounds.callers)
        try OptionBounds.check(self.keys, "--keys", in: OptionBounds.keys)
        guard self.minutes > 0, self.hangSeconds > 0, self.reportSeconds > 0 else {
            throw ValidationError("--minutes, --hang-seconds and --report-seconds must be positive")
        }
    }

    func run() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        let tls = try self.ca.map {
            try TLSContext(configuration: .client(trustRoots: .file($0), certificateChain: nil, privateKey: nil))
        }
        var pools: [(name: String, pool: MemcachePool)] = []
        for (address, context) in self.server.map({ ($0, TLSContext?.none) }) + self.tlsServer.map({ ($0, tls) }) {
            guard let (host, port) = Serve.hostAndPort(address) else {
                throw ValidationError("\(address) is not HOST:PORT")
            }
            var configuration = MemcachePool.Configuration(host: host, port: port, maxConnections: 8, tls: context)
            if context != nil { configuration.serverHostname = "localhost" }
            configuration.responseTimeout = .seconds(2)
            configuration.pool.leaseTimeout = .seconds(2)
            configuration.pool.connectTimeout = .seconds(2)
            configuration.pool.maxWaitersPerLoop = 100_000
            pools.append(
                ("\(context == nil ? "" : "tls ")\(address)", MemcachePool(configuration: configuration, group: group)))
        }
        let run = SoakRun(
            group: group, callersPerPool: self.callers, keys: self.keys,
            hangLimit: TimeAmount(seconds: self.hangSeconds))
        print(
            "mcpool soak: \(pools.map(\.name).joined(separator: ", ")); \(self.callers) callers each; \(self.minutes) min"
        )
        print(SoakRun.Row.header)
        fflush(nil)
        let rows = await run.run(
            pools: pools.map(\.pool), for: TimeAmount(seconds: self.minutes * 60),
            every: TimeAmount(seconds: self.reportSeconds)
        ) { row in
            print(row.line)
            fflush(nil) // all streams: a row is seen at once when piped
        }
        for (_, pool) in pools { await pool.shutdown() }
        try? await group.shutdownGracefully()
        let verdict = SoakRun.verdict(rows)
        print(verdict.summary)
        for example in run.wrongExamples() { print("  wrong: \(example)") }
        if !verdict.passed { throw ExitCode.failure }
    }
}
