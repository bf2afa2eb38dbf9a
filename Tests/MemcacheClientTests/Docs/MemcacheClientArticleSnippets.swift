// swift-format-ignore-file
// (Documentation snippets keep their hand layout, aligned comments included:
// DocumentationSnippetTests compares them with the articles line for line.)
import Logging
import MemcacheClient
import ServiceLifecycle
import UnixSignals

// The Swift blocks of the MemcacheClient DocC articles (DocumentationSnippetTests checks they
// are these lines). They name fixed ports or a service of the reader's, as a user's code
// would: compiled, not run.

enum MemcacheClientArticleSnippets {
    static func memcacheConnection() async throws {
        // snippet: memcache-connection
        let group = try EventLoopGroup(loopCount: 2)
        let memcache = try await MemcacheConnection.connect(host: "127.0.0.1", port: 11211, group: group)
        try await memcache.set("greeting", to: ByteBuffer(string: "hello"), ttl: 60)
        let value = try await memcache.get("greeting")                 // ByteBuffer("hello"), or nil on a miss
        let counter = try await memcache.increment("visits", by: 1)     // nil when the key is absent
        let found = try await memcache.getMany(["a", "b", "c"])         // one round trip
        try await memcache.close()
        // end snippet
        _ = (value, counter, found)
    }

    static func memcacheGettingStarted() async throws {
        // snippet: memcache-pool-getting-started
        let group = try EventLoopGroup(loopCount: 2)
        let pool = MemcachePool(host: "127.0.0.1", port: 11211, maxConnections: 20, group: group)   // add `tls:` for memcached -Z
        try await pool.set("greeting", to: ByteBuffer(string: "hello"))
        let value = try await pool.get("greeting")
        for i in 0..<100 { try await pool.set("user:\(i)", to: ByteBuffer(string: "…")) }   // String keys, checked
        await pool.shutdown()
        // end snippet
        _ = value
    }

    static func deadline(pool: MemcachePool) async throws {
        // snippet: memcache-deadline
        let cached = try? await MemcacheDeadline.within(.milliseconds(20)) {
            try await pool.get("user:42")
        }
        // end snippet
        _ = cached
    }

    static func serviceGroup(configuration: MemcachePool.Configuration, group: EventLoopGroup, myServer: some Service, logger: Logger) async throws {
        // snippet: memcache-service-group
        let cache = MemcachePool(configuration: configuration, group: group)
        let services = ServiceGroup(services: [cache, myServer], gracefulShutdownSignals: [.sigterm], logger: logger)
        try await services.run()
        // end snippet
    }

    static func serverSet(group: EventLoopGroup) async throws {
        // snippet: memcache-server-set
        let cache = MemcacheServerSet(
            servers: [.init(host: "10.0.0.1"), .init(host: "10.0.0.2"), .init(host: "10.0.0.3", weight: 2)],
            group: group, failurePolicy: .rehash)
        try await cache.set("user:42", to: ByteBuffer(string: "Ada"))
        let many = try await cache.getMany(["user:42", "user:43"])      // one multi-get per server
        await cache.update(servers: [.init(host: "10.0.0.1"), .init(host: "10.0.0.2"), .init(host: "10.0.0.4")])
        print(await cache.statistics())                                // per server and in total
        // end snippet
        await cache.shutdown()
        _ = many
    }

    static func routes(group: EventLoopGroup) async throws {
        // snippet: memcache-routes
        let ring = MemcacheServerSet(
            servers: [.init(host: "10.0.0.1"), .init(host: "10.0.0.2"), .init(host: "10.0.0.3")], group: group)
        var replication = MemcacheReplicatedRoute.Configuration()
        replication.failoverOnMiss = true                              // a copy restarted empty is asked past
        replication.writeBackTTL = 300                                 // and refilled from the other copy
        let copies = MemcacheReplicatedRoute(servers: ring, copies: 2, configuration: replication)
        let spare = MemcachePool(host: "10.0.9.1", port: 11211, maxConnections: 4, group: group)
        let cache = MemcacheGutterRoute(primary: copies, gutter: spare, maximumTTL: 10)
        try await cache.set("user:42", to: ByteBuffer(string: "Ada"), ttl: 300)   // two servers, or the gutter for 10 s
        let name = try await cache.get("user:42")
        // end snippet
        await ring.shutdown()
        await spare.shutdown()
        _ = name
    }

    static func credentials(group: EventLoopGroup, secret: String) async throws {
        // snippet: memcache-credentials
        var configuration = MemcachePool.Configuration(host: "cache.internal", port: 11211)
        configuration.credentials = try MemcacheCredentials(username: "app", password: secret)
        configuration.tls = try TLSContext(configuration: .client(trustRoots: .file("/etc/memcache/ca.pem")))
        let pool = MemcachePool(configuration: configuration, group: group)
        // … after the CA bundle was renewed:
        pool.replaceTLS(with: try TLSContext(configuration: .client(trustRoots: .file("/etc/memcache/ca.pem"))))
        // end snippet
        await pool.shutdown()
    }

    static func shallowerPipelines(group: EventLoopGroup) async {
        // snippet: memcache-pipeline-depth
        var configuration = MemcachePool.Configuration(host: "cache.internal", maxConnections: 16)
        configuration.pool.maxConcurrentLeasesPerConnection = 8 // some values are large
        let pool = MemcachePool(configuration: configuration, group: group)
        // end snippet
        await pool.shutdown()
    }

    static func twemproxy(group: EventLoopGroup) async throws {
        // snippet: memcache-twemproxy
        var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: 22121)
        configuration.wireProtocol = .twemproxy        // .text for text-only servers; .meta is the default
        let proxied = MemcachePool(configuration: configuration, group: group)
        // end snippet
        await proxied.shutdown()
    }
}
