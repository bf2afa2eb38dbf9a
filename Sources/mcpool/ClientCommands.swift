import ArgumentParser
import Channels
import Codecs
import Foundation
import MemcacheClient

/// One connection to `--server` for the single-shot commands, closed after `body`.
private func withServer<T>(_ options: ServerOptions, _ body: (MemcacheConnection) async throws -> T) async throws -> T {
    let group = try EventLoopGroup(loopCount: 1)
    let tls = try options.tlsContext(handshakeTimeout: options.connectTimeoutAmount)
    let credentials = try options.credentials()
    let endpoint = try options.endpoint()
    do {
        let connection =
            switch endpoint {
            case .tcp(let host, let port):
                try await MemcacheConnection.connect(
                    host: host, port: port, group: group, tls: tls, connectTimeout: options.connectTimeoutAmount,
                    wireProtocol: options.wireProtocol, credentials: credentials)
            case .unix(let path):
                try await MemcacheConnection.connect(
                    unixDomainSocketPath: path, group: group, tls: tls, connectTimeout: options.connectTimeoutAmount,
                    wireProtocol: options.wireProtocol, credentials: credentials)
            }
        let result: T
        do {
            result = try await body(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try? await connection.close()
        try? await group.shutdownGracefully()
        return result
    } catch {
        try? await group.shutdownGracefully()
        throw error
    }
}

/// The cache the key commands use: one connection to `--server`, or a ketama ring of several
/// (`--server A,B,…` or `--servers-file`), shut down after `body`.
private func withCache<T>(_ options: ServerOptions, _ body: (any MemcacheRequestSender) async throws -> T)
    async throws -> T
{
    if options.udp {
        let group = try EventLoopGroup(loopCount: 1)
        do {
            let client = try await options.udpClient(group: group, responseTimeout: options.connectTimeoutAmount)
            let result = try await body(try options.layered(client))
            try? await client.close()
            try? await group.shutdownGracefully()
            return result
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }
    guard let servers = try options.ring() else {
        return try await withServer(options) { try await body(try options.layered($0)) }
    }
    let tls = try options.tlsContext(handshakeTimeout: options.connectTimeoutAmount)
    let credentials = try options.credentials()
    let group = try EventLoopGroup(loopCount: 1)
    let configure: @Sendable (inout MemcachePool.Configuration) -> Void = { configuration in
        configuration.tls = tls
        configuration.credentials = credentials
        configuration.wireProtocol = options.wireProtocol
        configuration.pool.connectTimeout = options.connectTimeoutAmount
    }
    let ring = MemcacheServerSet(servers: servers, maxConnectionsPerServer: 1, group: group, configure: configure)
    let gutter = try options.gutterServer().map { server in
        var configuration = MemcachePool.Configuration(host: server.host, port: server.port, maxConnections: 1)
        configure(&configuration)
        return MemcachePool(configuration: configuration, group: group)
    }
    let shutdown = {
        await ring.shutdown()
        await gutter?.shutdown()
        try? await group.shutdownGracefully()
    }
    do {
        let result = try await body(try options.layered(options.routes(over: ring, gutter: gutter)))
        await shutdown()
        return result
    } catch {
        await shutdown()
        throw error
    }
}

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print the value of KEY (like memccat); exits 1 on a miss.")
    @OptionGroup var target: ServerOptions
    @Argument(help: "The key.") var key: String

    func run() async throws {
        let key = try MemcacheKey(self.key)
        guard let value = try await withCache(self.target, { try await $0.get(key) }) else {
            printError("\(self.key): not found")
            throw ExitCode.failure
        }
        FileHandle.standardOutput.write(Data(value.readableBytesView))
    }
}

struct SetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set", abstract: "Store VALUE under KEY (like memccp).")
    @OptionGroup var target: ServerOptions
    @Argument(help: "The key.") var key: String
    @Argument(help: "The value.") var value: String
    @Option(help: "Seconds to live (0: no expiry).") var ttl = 0

    func run() async throws {
        let key = try MemcacheKey(self.key)
        try await withCache(self.target) { try await $0.set(key, to: ByteBuffer(string: self.value), ttl: self.ttl) }
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete KEY (like memcrm); exits 1 when it was not there.")
    @OptionGroup var target: ServerOptions
    @Argument(help: "The key.") var key: String

    func run() async throws {
        let key = try MemcacheKey(self.key)
        guard try await withCache(self.target, { try await $0.delete(key) }) else {
            printError("\(self.key): not found")
            throw ExitCode.failure
        }
    }
}

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Print the server's statistics (like memcstat).")
    @OptionGroup var target: ServerOptions
    @Argument(help: "A stats group, e.g. settings.") var group: String?

    func run() async throws {
        let stats = try await withServer(self.target) { try await $0.stats(self.group) }
        for (name, value) in stats.sorted(by: { $0.key < $1.key }) { print("\(name) \(value)") }
    }
}
