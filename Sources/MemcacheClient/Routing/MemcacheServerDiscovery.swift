public import Channels
import FoundationEssentials
public import Logging

/// Keeps a `MemcacheServerSet`'s servers where they are listed: in a file that an operator or
/// a configuration system edits, or behind host names whose addresses DNS gives (a cluster
/// that scales or moves). Each `interval` the source is read again; a change applies through
/// the set's `update(servers:)` (keys move as the ring says, calls in flight finish). A source
/// that cannot be used — a broken or empty file, a name that resolves to nothing or not at
/// all — keeps the last good list (for DNS: that name's last good addresses) and logs why.
///
/// Thread-safe. Run it beside the set: `run()` in a task of its own, or as a service of the
/// app's `ServiceGroup`; `refresh()` reads the source once, now.
///
/// ```swift
/// let cache = MemcacheServerSet(servers: [.init(host: "10.0.0.1")], group: group)
/// let discovery = MemcacheServerDiscovery(set: cache, source: .file(path: "/etc/memcached.servers"))
/// let services = ServiceGroup(services: [cache, discovery], logger: logger)
/// ```
public final class MemcacheServerDiscovery: Sendable {
    /// Where the servers are listed.
    public enum Source: Sendable {
        /// A file with one server a line: `host:port` or `host:port:weight` (`[v6]:port` for
        /// an IPv6 address); blank lines and `#` comments are ignored.
        case file(path: String)
        /// Host names, each resolved to all its addresses: every address is a server, with its
        /// name's port and weight. Placement follows the addresses (`10.0.0.7:11211`), so a
        /// name whose addresses do not change moves no key. `resolve` defaults to the system
        /// resolver (`SocketAddress.resolve`, `/etc/hosts` and DNS).
        case dns(
            names: [MemcacheServerSet.Server],
            resolve: @Sendable (_ host: String, _ port: Int) async throws -> [SocketAddress] = {
                try await SocketAddress.resolve(host: $0, port: $1)
            })
    }

    public let set: MemcacheServerSet
    public let source: Source
    public let interval: TimeAmount
    private let logger: Logger
    /// DNS: each name's last good addresses.
    private let resolved = LockedValue<[String: [MemcacheServerSet.Server]]>([:])

    /// - Parameters:
    ///   - set: the set whose servers follow the source.
    ///   - source: where the servers are listed.
    ///   - interval: how often the source is read again.
    ///   - logger: changes (info) and sources that cannot be used (warning).
    public init(
        set: MemcacheServerSet, source: Source, interval: TimeAmount = .seconds(10),
        logger: Logger = Logger(label: "swift-channels.memcache-discovery", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.set = set
        self.source = source
        self.interval = interval
        self.logger = logger
    }

    /// Reads the source every `interval` until the task is cancelled (or, as a service, the
    /// group shuts down). The first read is at once.
    public func refreshPeriodically() async {
        while !Task.isCancelled {
            await self.refresh()
            try? await Task.sleep(for: .nanoseconds(self.interval.nanoseconds))
        }
    }

    /// Reads the source once and applies a change. Returns the servers in use afterwards.
    @discardableResult
    public func refresh() async -> [MemcacheServerSet.Server] {
        let current = self.set.servers
        guard let listed = await self.listedServers(), !listed.isEmpty else { return current }
        guard Set(listed) != Set(current) else { return current }
        let added = listed.filter { !current.contains($0) }
        let removed = current.filter { !listed.contains($0) }
        self.logger.info(
            "the memcache servers changed", metadata: ["added": "\(added)", "removed": "\(removed)"])
        await self.set.update(servers: listed)
        return listed
    }

    /// What the source lists now; nil (logged) when it cannot be used.
    private func listedServers() async -> [MemcacheServerSet.Server]? {
        switch self.source {
        case .file(let path):
            do {
                let bytes = try Data(contentsOf: URL(filePath: path))
                let servers = try Self.parse(String(decoding: bytes, as: UTF8.self))
                guard !servers.isEmpty else {
                    self.logger.warning(
                        "the server list names no server: keeping the last good one", metadata: ["path": "\(path)"])
                    return nil
                }
                return servers
            } catch {
                self.logger.warning(
                    "the server list cannot be used: keeping the last good one",
                    metadata: ["path": "\(path)", "error": "\(error)"])
                return nil
            }
        case .dns(let names, let resolve):
            var servers: [MemcacheServerSet.Server] = []
            for name in names {
                servers += await self.addresses(of: name, resolve: resolve)
            }
            return servers
        }
    }

    /// `name`'s addresses as servers, or its last good ones when it cannot be resolved now.
    private func addresses(
        of name: MemcacheServerSet.Server, resolve: @Sendable (String, Int) async throws -> [SocketAddress]
    ) async -> [MemcacheServerSet.Server] {
        let lastGood = self.resolved.withLock { $0[name.address] } ?? []
        do {
            let addresses = try await resolve(name.host, name.port)
            guard !addresses.isEmpty else {
                self.logger.warning(
                    "a memcache host name resolved to no address: keeping its last good ones",
                    metadata: ["name": "\(name.address)"])
                return lastGood
            }
            var seen = Set<MemcacheServerSet.Server>()
            let servers = addresses.map {
                MemcacheServerSet.Server(host: $0.ipAddress, port: $0.port, weight: name.weight)
            }.filter { seen.insert($0).inserted }
            self.resolved.withLock { $0[name.address] = servers }
            return servers
        } catch {
            self.logger.warning(
                "a memcache host name cannot be resolved: keeping its last good addresses",
                metadata: ["name": "\(name.address)", "error": "\(error)"])
            return lastGood
        }
    }

    /// The servers of a server-list file (see `Source.file`).
    ///
    /// - Throws: `MemcacheError` (`.invalidArgument`) naming the first bad line.
    public static func parse(_ text: String) throws -> [MemcacheServerSet.Server] {
        var servers: [MemcacheServerSet.Server] = []
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let entry = String(line.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
            guard !entry.isEmpty else { continue }
            guard let server = Self.server(entry) else {
                throw MemcacheError(
                    .invalidArgument,
                    "line \(number + 1): '\(entry)' is not host:port or host:port:weight (port 1...65535, weight 1...4294967295)"
                )
            }
            servers.append(server)
        }
        return servers
    }

    /// `host:port[:weight]` or `[v6]:port[:weight]`; nil when it is neither.
    private static func server(_ entry: String) -> MemcacheServerSet.Server? {
        var host: Substring
        var rest: Substring
        if entry.hasPrefix("[") {
            guard let close = entry.firstIndex(of: "]") else { return nil }
            host = entry[entry.index(after: entry.startIndex)..<close]
            rest = entry[entry.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            rest = rest.dropFirst()
        } else {
            let parts = entry.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            (host, rest) = (parts[0], parts[1])
        }
        let numbers = rest.split(separator: ":", omittingEmptySubsequences: false)
        guard !host.isEmpty, !host.contains(where: \.isWhitespace), (1...2).contains(numbers.count),
            let port = Int(numbers[0]), (1...65535).contains(port)
        else { return nil }
        var weight = 1
        if numbers.count == 2 {
            // libmemcached's weights are 32-bit.
            guard let given = Int(numbers[1]), (1...Int(UInt32.max)).contains(given) else { return nil }
            weight = given
        }
        return MemcacheServerSet.Server(host: String(host), port: port, weight: weight)
    }
}

#if ServiceLifecycleSupport
    public import ServiceLifecycle

    /// As a service, discovery reads its source until the group shuts down.
    extension MemcacheServerDiscovery: Service {
        public func run() async throws {
            await cancelWhenGracefulShutdown { await self.refreshPeriodically() }
        }
    }
#endif
