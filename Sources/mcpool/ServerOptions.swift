import ArgumentParser
import Channels
import Codecs
import Foundation
import MemcacheClient

/// Where a command finds its memcache server, and how to reach it over TLS.
struct ServerOptions: ParsableArguments {
    @Option(
        help: """
            The server, as HOST:PORT or unix:PATH (default: 127.0.0.1:11211; bench starts its embedded server instead); \
            several, HOST:PORT,HOST:PORT,…, make a ketama ring (keys placed as libmemcached places them).
            """
    )
    var server: String?
    @Option(
        help: "A file of servers for a ketama ring, one HOST:PORT[:WEIGHT] a line (# comments); instead of --server.")
    var serversFile: String?
    @Option(help: "Seconds between bench's reads of --servers-file (edits apply to the ring while it runs).")
    var serversFileInterval = 2.0
    @Option(
        help: "Copies of each key on the ring (2 or more: writes go to every copy, reads fail over to the next).")
    var replicas = 1
    @Option(help: "A spare server, HOST:PORT, that takes a failing ring server's keys until it returns.")
    var gutter: String?
    @Option(help: "The longest TTL (seconds) an item gets in the --gutter.") var gutterTTL = 10
    @Option(help: "A prefix on every key, so that applications sharing the servers never see each other's keys.")
    var namespace: String?
    @Option(help: "Compress values of 1 KiB and more: none or zstd (read back transparently).")
    var compress: CompressionOption = .none
    @Option(help: "The zstd level of --compress zstd (1 fastest … 19).") var compressLevel = 3
    @Option(
        name: .customLong("protocol"),
        help:
            "The commands the server speaks: meta (memcached 1.6+), text (classic text only) or twemproxy (nutcracker's subset)."
    )
    var protocolOption: ProtocolOption = .meta
    var wireProtocol: MemcacheProtocol { self.protocolOption.wireProtocol }
    @Flag(help: "Talk TLS (memcached -Z).") var tls = false
    @Flag(
        help:
            "Talk memcached's UDP protocol (memcached -U PORT) to one HOST:PORT: one datagram per request, no TLS or authentication."
    )
    var udp = false
    @Option(help: "CA certificate (PEM) to verify the server with; default: the system's trust store.") var ca: String?
    @Option(help: "Client certificate chain (PEM), for servers that require one.") var cert: String?
    @Option(help: "Private key (PEM) of --cert.") var key: String?
    @Flag(help: "Do not verify the server's certificate (testing only).") var insecure = false
    @Option(help: "User name for servers that ask for ASCII authentication (memcached -Y); with --password.")
    var username: String?
    @Option(help: "Password of --username (visible in the process list: prefer --auth-file).") var password: String?
    @Option(help: "A file whose first user:password line (memcached's authfile format) authenticates the client.")
    var authFile: String?
    @Option(help: "Seconds a new connection may take to connect, TLS handshake included.") var connectTimeout = 5.0
    var connectTimeoutAmount: TimeAmount { TimeAmount(seconds: self.connectTimeout) }

    func validate() throws {
        guard self.server == nil || self.serversFile == nil else {
            throw ValidationError("--server and --servers-file are two ways to say the same: give one")
        }
        guard self.replicas >= 1 else { throw ValidationError("--replicas is 1 (no copies) or more") }
        if let namespace = self.namespace, namespace.utf8.count > 200 || (try? MemcacheKey(namespace)) == nil {
            throw ValidationError("--namespace is 1 to 200 bytes with no space or control byte")
        }
        guard self.serversFileInterval > 0 else { throw ValidationError("--servers-file-interval is above 0") }
        guard self.gutterTTL >= 1 else { throw ValidationError("--gutter-ttl is at least 1 second") }
        guard self.replicas == 1 && self.gutter == nil || self.serversFile != nil || self.server?.contains(",") == true
        else {
            throw ValidationError("--replicas and --gutter work on a ring: give --server A,B,… or --servers-file")
        }
        guard (self.cert == nil) == (self.key == nil) else { throw ValidationError("--cert and --key go together") }
        guard (self.username == nil) == (self.password == nil) else {
            throw ValidationError("--username and --password go together")
        }
        guard self.username == nil || self.authFile == nil else {
            throw ValidationError("--username/--password and --auth-file are two ways to say the same: give one")
        }
        guard self.tls || (self.ca == nil && self.cert == nil && !self.insecure) else {
            throw ValidationError("--ca, --cert and --insecure need --tls")
        }
        if self.udp {
            guard !self.tls, self.username == nil, self.authFile == nil else {
                throw ValidationError("--udp has neither TLS nor authentication")
            }
            guard self.serversFile == nil, self.server?.contains(",") != true, self.server?.hasPrefix("unix:") != true
            else { throw ValidationError("--udp talks to one HOST:PORT") }
        }
    }

    /// A UDP client of `--server` (`--udp`), as the key commands and bench use it.
    func udpClient(group: EventLoopGroup, responseTimeout: TimeAmount = .seconds(1)) async throws
        -> MemcacheUDPClient
    {
        guard case .tcp(let host, let port) = try self.endpoint() else {
            throw ValidationError("--udp talks to one HOST:PORT")
        }
        return try await MemcacheUDPClient.connect(
            host: host, port: port, group: group,
            configuration: .init(responseTimeout: responseTimeout, wireProtocol: self.wireProtocol))
    }

    /// The servers of a ketama ring (a comma-separated `--server` or `--servers-file`); nil
    /// for one server.
    func ring() throws -> [MemcacheServerSet.Server]? {
        let servers = try self.listedServers()
        if let servers, self.replicas > servers.count {
            throw ValidationError("--replicas \(self.replicas) needs as many servers; the ring has \(servers.count)")
        }
        return servers
    }

    private func listedServers() throws -> [MemcacheServerSet.Server]? {
        if let path = self.serversFile {
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ValidationError("--servers-file \(path) cannot be read: \(error.localizedDescription)")
            }
            let servers: [MemcacheServerSet.Server]
            do {
                servers = try MemcacheServerDiscovery.parse(text)
            } catch let error as MemcacheError {
                throw ValidationError("--servers-file \(path): \(error.message)")
            }
            guard !servers.isEmpty else { throw ValidationError("--servers-file \(path) lists no server") }
            return servers
        }
        guard let server = self.server, server.contains(",") else { return nil }
        return try server.split(separator: ",", omittingEmptySubsequences: false).map { part in
            guard case .tcp(let host, let port) = try Self.endpoint(String(part)) else {
                throw ValidationError("a ring is of HOST:PORT servers, not unix:PATH")
            }
            return MemcacheServerSet.Server(host: host, port: port)
        }
    }

    /// The `--gutter` server, if any.
    func gutterServer() throws -> (host: String, port: Int)? {
        guard let gutter = self.gutter else { return nil }
        guard case .tcp(let host, let port) = try Self.endpoint(gutter) else {
            throw ValidationError("--gutter is HOST:PORT, not unix:PATH")
        }
        return (host, port)
    }

    /// What the commands talk to over a ring's `set`: the set itself, or the routes
    /// `--replicas` and `--gutter` ask for (a gutter in front of the copies).
    func routes(over set: MemcacheServerSet, gutter: MemcachePool?) -> any MemcacheRequestSender {
        let copies: any MemcacheRequestSender =
            self.replicas > 1 ? MemcacheReplicatedRoute(servers: set, copies: self.replicas) : set
        guard let gutter else { return copies }
        return MemcacheGutterRoute(primary: copies, gutter: gutter, maximumTTL: self.gutterTTL)
    }

    /// `sender` under `--namespace`, or itself. (The prefix was checked by `validate`.)
    /// `sender` under --namespace and --compress, when given.
    func layered(_ sender: any MemcacheRequestSender) throws -> any MemcacheRequestSender {
        var layered = sender
        if let namespace = self.namespace { layered = try MemcacheNamespace(namespace, over: layered) }
        switch self.compress {
        case .none: break
        case .zstd: layered = try MemcacheCompression(.zstd(level: self.compressLevel), over: layered)
        }
        return layered
    }

    /// How a ring with these options is described in reports.
    func ringName(_ servers: [MemcacheServerSet.Server]) -> String {
        var name = "a ring of \(servers.count) servers (\(servers.map(\.address).joined(separator: ", ")))"
        if self.replicas > 1 { name += ", \(self.replicas) copies of each key" }
        if let gutter = self.gutter { name += ", gutter \(gutter)" }
        return name
    }

    /// The server to use, by default 127.0.0.1:11211.
    func endpoint() throws -> ServerEndpoint {
        guard self.serversFile == nil, self.server?.contains(",") != true else {
            throw ValidationError("this command talks to one server: give one HOST:PORT")
        }
        guard let server = self.server else { return .tcp(host: "127.0.0.1", port: 11211) }
        return try Self.endpoint(server)
    }

    /// One `--server` value.
    private static func endpoint(_ server: String) throws -> ServerEndpoint {
        if server.hasPrefix("unix:") {
            let path = String(server.dropFirst("unix:".count))
            guard (try? SocketAddress(unixDomainSocketPath: path)) != nil else {
                throw ValidationError("--server unix:PATH needs a socket path of 1 to 107 bytes")
            }
            return .unix(path: path)
        }
        guard let colon = server.lastIndex(of: ":"), let port = Int(server[server.index(after: colon)...]),
            (1...65535).contains(port)
        else { throw ValidationError("--server is HOST:PORT or unix:PATH, e.g. 127.0.0.1:11211") }
        var host = String(server[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return .tcp(host: host, port: port)
    }

    /// The credentials of --username/--password or --auth-file's first line, if any.
    func credentials() throws -> MemcacheCredentials? {
        do {
            if let username = self.username, let password = self.password {
                return try MemcacheCredentials(username: username, password: password)
            }
            guard let path = self.authFile else { return nil }
            let text: String
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw ValidationError("--auth-file \(path) cannot be read: \(error.localizedDescription)")
            }
            guard let first = try MemcacheCredentials.parseAuthFile(text).first else {
                throw ValidationError("--auth-file \(path) holds no user:password line")
            }
            return first
        } catch let error as MemcacheError {
            throw ValidationError("\(self.authFile.map { "--auth-file \($0): " } ?? "")\(error.message)")
        }
    }

    /// The client TLS context, or nil without --tls. Built here, off the loops (it reads files).
    /// - Parameter handshakeTimeout: how long a handshake may take (the library's default
    ///   when nil).
    func tlsContext(handshakeTimeout: TimeAmount? = nil) throws -> TLSContext? {
        guard self.tls else { return nil }
        var configuration = TLSConfiguration.client(
            trustRoots: self.ca.map { .file($0) } ?? .system,
            certificateChain: self.cert.map { .file($0) }, privateKey: self.key.map { .file($0) })
        if self.insecure { configuration.verification = .none }
        if let handshakeTimeout { configuration.handshakeTimeout = handshakeTimeout }
        return try TLSContext(configuration: configuration)
    }
}

/// Where `--server` points.
enum ServerEndpoint: Equatable, CustomStringConvertible {
    case tcp(host: String, port: Int)
    case unix(path: String)

    var description: String {
        switch self {
        case .tcp(let host, let port): return "\(host):\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }
}

/// `--protocol`: the library's `MemcacheProtocol`, by name (a conformance of the library's
/// type would be retroactive).
enum ProtocolOption: String, ExpressibleByArgument, CaseIterable {
    case meta, text, twemproxy

    var wireProtocol: MemcacheProtocol {
        switch self {
        case .meta: return .meta
        case .text: return .text
        case .twemproxy: return .twemproxy
        }
    }
}

/// `--compress`.
enum CompressionOption: String, ExpressibleByArgument, CaseIterable {
    case none, zstd
}
