import ArgumentParser
import Channels
import Codecs
import Foundation
import Logging
import MemcacheServer
import ServiceLifecycle
import UnixSignals

#if !ServiceLifecycleSupport
    #error("mcpool runs the server in a ServiceGroup: build it with the default traits (ServiceLifecycleSupport)")
#endif

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the embedded multi-loop memcache server until SIGTERM or SIGINT.",
        discussion: """
            Speaks memcached's text and meta protocols (get/gets/gat/gats, set/add/replace/append/prepend/cas, \
            delete, incr/decr, touch, flush_all, stats, version, verbosity, quit, mg/ms/md/ma/mn/me), with TTLs, \
            CAS, LRU eviction within --memory-limit and optional TLS. SIGTERM or SIGINT stops it gracefully: no \
            new connections, every request already read is answered, then it exits 0 (within \
            --shutdown-timeout); a second signal closes every connection at once. SIGHUP reloads --auth-file and             the --tls-cert/--tls-key files (as memcached reloads its authfile): new connections use them, open ones             keep what they have; files that do not load are logged and the previous ones stay in use.
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 11211
    @Option(help: "Listen on a Unix-domain socket at this path instead of --host and --port (memcached's -s).")
    var unixSocket: String?
    @Option(help: "Permissions of the --unix-socket file, in octal (memcached's -a), e.g. 0660.")
    var unixSocketMode: String?
    @Option(
        help:
            "Also serve memcached's UDP protocol on this port (memcached's -U; 0 picks one): one socket per loop, no TLS or authentication."
    )
    var udpPort: Int?
    @Option(help: "Event loops (threads).") var loops = 2
    @Option(help: "Memory for items, in megabytes; the least recently used go first past it.") var memoryLimit = 64
    @Option(help: "Largest value stored, in kilobytes (memcached's -I).") var maxItemSize = 1024
    @Option(help: "Most simultaneous connections; more are told so and closed.") var maxConnections = 1024
    @Option(help: "Certificate chain (PEM) to serve TLS with.") var tlsCert: String?
    @Option(help: "Private key (PEM) of --tls-cert.") var tlsKey: String?
    @Option(
        help:
            "Ask every connection to authenticate (memcached's -Y): a file of user:password lines; SIGHUP reloads it."
    )
    var authFile: String?
    @Option(help: "Seconds a request may stay incomplete before its connection is closed (0: forever).")
    var requestTimeout: Double = 30
    @Option(help: "Seconds a graceful stop waits for clients to take their last replies and hang up.")
    var shutdownTimeout: Double = 10
    @Option(help: "HOST:PORT to serve the server's counters on, at /metrics in the Prometheus text format.")
    var metrics: String?
    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        try OptionBounds.check(self.port, "--port", in: OptionBounds.port)
        guard (self.tlsCert == nil) == (self.tlsKey == nil) else {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        try OptionBounds.check(self.loops, "--loops", in: OptionBounds.loops)
        try OptionBounds.check(self.memoryLimit, "--memory-limit", in: OptionBounds.memoryMegabytes)
        try OptionBounds.check(self.maxItemSize, "--max-item-size", in: OptionBounds.itemKilobytes)
        try OptionBounds.check(self.maxConnections, "--max-connections", in: OptionBounds.serverConnections)
        guard self.shutdownTimeout >= 0, self.requestTimeout >= 0 else {
            throw ValidationError("--shutdown-timeout and --request-timeout cannot be negative")
        }
        if let mode = self.unixSocketMode {
            guard self.unixSocket != nil else { throw ValidationError("--unix-socket-mode needs --unix-socket") }
            guard let bits = UInt32(mode, radix: 8), bits <= 0o777 else {
                throw ValidationError("--unix-socket-mode is octal permissions, e.g. 0660")
            }
        }
        if let udpPort = self.udpPort {
            try OptionBounds.check(udpPort, "--udp-port", in: OptionBounds.port)
            guard self.tlsCert == nil, self.authFile == nil, self.unixSocket == nil else {
                throw ValidationError(
                    "--udp-port serves plain UDP on --host: not with TLS, --auth-file or --unix-socket")
            }
        }
        if let metrics = self.metrics, Self.hostAndPort(metrics) == nil {
            throw ValidationError("--metrics takes HOST:PORT, e.g. 127.0.0.1:9150")
        }
    }

    /// The server TLS context of --tls-cert and --tls-key, or nil without them.
    private func loadTLS() throws -> TLSContext? {
        guard let certificate = self.tlsCert, let key = self.tlsKey else { return nil }
        return try TLSContext(configuration: .server(certificateChain: .file(certificate), privateKey: .file(key)))
    }

    /// The users of --auth-file.
    private func loadUsers() throws -> [MemcacheCredentials] {
        guard let path = self.authFile else { return [] }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("--auth-file \(path) cannot be read: \(error.localizedDescription)")
        }
        do {
            return try MemcacheCredentials.parseAuthFile(text)
        } catch let error as MemcacheError {
            throw ValidationError("--auth-file \(path): \(error.message)")
        }
    }

    /// SIGHUP: loads --auth-file and the TLS files again; what does not load is logged and
    /// the previous stays in use.
    private func reload(_ server: InProcessMemcacheServer, logger: Logger) {
        if let authenticator = server.configuration.authenticator {
            do {
                let users = try self.loadUsers()
                authenticator.replace(with: users)
                logger.info("reloaded --auth-file", metadata: ["users": "\(users.count)"])
            } catch {
                logger.error("--auth-file did not load; the previous users stay", metadata: ["error": "\(error)"])
            }
        }
        if self.tlsCert != nil {
            do {
                if let context = try self.loadTLS() { try server.replaceTLS(with: context) }
                logger.info("reloaded --tls-cert and --tls-key: new connections use them")
            } catch {
                logger.error(
                    "the TLS files did not load; new connections keep the previous certificate",
                    metadata: ["error": "\(error)"])
            }
        }
    }

    /// "host:port" or "[v6]:port" split; nil when malformed.
    static func hostAndPort(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        self.logging.bootstrap(defaultLevel: .info)
        var configuration = InProcessMemcacheServer.Configuration(
            host: self.host, port: self.port, memoryLimit: self.memoryLimit << 20,
            maximumValueLength: self.maxItemSize << 10,
            maximumConnections: self.maxConnections, logger: Logger(label: "mcpool.serve"))
        configuration.shutdownTimeout = TimeAmount(seconds: self.shutdownTimeout)
        configuration.incompleteRequestTimeout =
            self.requestTimeout > 0 ? TimeAmount(seconds: self.requestTimeout) : nil
        configuration.unixSocketPath = self.unixSocket
        configuration.udpPort = self.udpPort
        configuration.unixSocketMode = self.unixSocketMode.flatMap { UInt32($0, radix: 8) }
        configuration.tls = try self.loadTLS()
        if self.authFile != nil { configuration.authenticator = MemcacheAuthenticator(try self.loadUsers()) }
        // Trapped before anything starts, so that no signal is lost to the default action.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        let group = try EventLoopGroup(loopCount: self.loops)
        let server: InProcessMemcacheServer
        do {
            server = try await InProcessMemcacheServer.start(group: group, configuration: configuration)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        print(
            "mcpool serve: memcache on \(server.localAddress)\(configuration.tls == nil ? "" : " (TLS)"), \(self.loops) loops\(self.authFile == nil ? "" : ", authentication required")"
        )
        if let udp = server.udpLocalAddress { print("mcpool serve: memcache UDP on \(udp)") }
        var metricsListener: ListeningServer?
        if let metrics = self.metrics, let (host, port) = Self.hostAndPort(metrics) {
            do {
                metricsListener = try await ServerMetrics(server: server).serve(group: group, host: host, port: port)
            } catch {
                await server.shutdown(deadline: .zero)
                try? await group.shutdownGracefully()
                throw error
            }
            print("mcpool serve: metrics on http://\(metricsListener?.localAddress.description ?? metrics)/metrics")
        }
        let services = ServiceGroup(services: [server], logger: Logger(label: "mcpool.serve"))
        // The signals are ours rather than the group's: the first starts the group's graceful
        // shutdown, a second one cuts the drain short, which the group's handling cannot tell
        // apart from the first.
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await services.run() }
            tasks.addTask {
                for await _ in hangups { self.reload(server, logger: Logger(label: "mcpool.serve")) }
            }
            tasks.addTask {
                var caught = 0
                for await _ in signals {
                    caught += 1
                    if caught == 1 {
                        await services.triggerGracefulShutdown()
                    } else {
                        await server.shutdown(deadline: .zero)
                    }
                }
            }
            try await tasks.next()
            tasks.cancelAll()
        }
        try? await metricsListener?.close()
        try? await group.shutdownGracefully()
        let statistics = server.statistics
        let cut = statistics.closedAtShutdownDeadline
        print(
            "mcpool serve: stopped after \(statistics.commands) commands on \(statistics.totalConnections) connections\(cut == 0 ? "" : "; \(cut) closed before their clients hung up")"
        )
    }
}
