import ArgumentParser
import Channels

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the embedded multi-loop memcache server until interrupted.",
        discussion: """
            Speaks memcached's text and meta protocols (get/gets/gat/gats, set/add/replace/append/prepend/cas, \
            delete, incr/decr, touch, flush_all, stats, version, verbosity, quit, mg/ms/md/ma/mn/me), with TTLs, \
            CAS, LRU eviction within --memory-limit and optional TLS.
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 11211
    @Option(help: "Event loops (threads).") var loops = 2
    @Option(help: "Memory for items, in megabytes; the least recently used go first past it.") var memoryLimit = 64
    @Option(help: "Largest value stored, in kilobytes (memcached's -I).") var maxItemSize = 1024
    @Option(help: "Most simultaneous connections; more are told so and closed.") var maxConnections = 1024
    @Option(help: "Certificate chain (PEM) to serve TLS with.") var tlsCert: String?
    @Option(help: "Private key (PEM) of --tls-cert.") var tlsKey: String?

    func validate() throws {
        guard (self.tlsCert == nil) == (self.tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
        guard self.loops >= 1, self.memoryLimit >= 1, self.maxItemSize >= 1 else {
            throw ValidationError("--loops, --memory-limit and --max-item-size must be positive")
        }
    }

    func run() async throws {
        let group = try EventLoopGroup(loopCount: self.loops)
        var configuration = EmbeddedMemcacheServer.Configuration()
        configuration.host = self.host
        configuration.port = self.port
        configuration.memoryLimit = self.memoryLimit << 20
        configuration.maximumValueLength = self.maxItemSize << 10
        configuration.maximumConnections = self.maxConnections
        if let certificate = self.tlsCert, let key = self.tlsKey {
            configuration.tls = try TLSContext(configuration: .server(certificateChain: .file(certificate), privateKey: .file(key)))
        }
        let server = try await EmbeddedMemcacheServer.start(group: group, configuration: configuration)
        print("mcpool serve: memcache on \(server.listener.localAddress)\(configuration.tls == nil ? "" : " (TLS)"), \(self.loops) loops")
        try await server.listener.listeners[0].closeFuture.get()
    }
}
