import Channels
import Foundation
import Glibc

/// A network namespace joined to this one by a veth pair, for real packet loss and partitions
/// (nftables rules inside the namespace; this kernel has no `netem`). The host side is
/// `10.78.N.1`, the namespace side `10.78.N.2`, N a subnet no link on this host uses. Needs
/// root, iproute2 and nftables (`unavailableReason` says what is missing).
///
/// Prefer `with(_:)`, which removes the namespace however the body ends. A namespace's name
/// carries the pid of the process that made it: `make()` first removes those whose process is
/// gone (a test process that was killed), so a stale link can never answer for a new one's
/// subnet.
public final class NetworkNamespace: @unchecked Sendable {
    // SAFETY: created, used and removed by one test, in order.
    public let name: String
    public let hostAddress: String
    public let innerAddress: String
    private let hostLink: String

    /// Why namespaces cannot be made here, or nil when they can (checked once).
    public static let unavailableReason: String? = {
        guard getuid() == 0 else { return "network namespaces need root" }
        guard findExecutable(["/usr/sbin/ip", "/sbin/ip"]) != nil else { return "iproute2 is not installed" }
        guard findExecutable(["/usr/sbin/nft", "/sbin/nft"]) != nil else {
            return "nftables is not installed (scripts/test.sh installs it)"
        }
        return nil
    }()

    private static var ip: String { findExecutable(["/usr/sbin/ip", "/sbin/ip"]) ?? "ip" }
    private static var nft: String { findExecutable(["/usr/sbin/nft", "/sbin/nft"]) ?? "nft" }

    private init(name: String, subnet: Int, hostLink: String) {
        self.name = name
        self.subnet = subnet
        self.hostLink = hostLink
        self.hostAddress = "10.78.\(subnet).1"
        self.innerAddress = "10.78.\(subnet).2"
    }

    /// Subnets this process has handed out and not yet removed (two tests making namespaces
    /// at once must not both pick a subnet the host does not use yet).
    private static let subnetsInUse = LockedValue<Set<Int>>([])
    private let subnet: Int

    /// Makes a namespace, runs `body` with it and removes it, whether `body` returns or throws.
    public static func with<T>(_ body: (NetworkNamespace) async throws -> T) async throws -> T {
        let namespace = try await make()
        do {
            let result = try await body(namespace)
            await namespace.remove()
            return result
        } catch {
            await namespace.remove()
            throw error
        }
    }

    /// Makes the namespace, its veth pair and an nftables table with input and output chains.
    /// The caller must `remove()` it (or use `with(_:)`).
    public static func make() async throws -> NetworkNamespace {
        await removeStale()
        let tag = String(UInt32.random(in: 0...0xFFFFF), radix: 16)
        let used = try await subnetsOnHost()
        let subnet = try subnetsInUse.withLock { mine -> Int in
            guard let free = (1...254).shuffled().first(where: { !used.contains($0) && !mine.contains($0) }) else {
                throw NamespaceError("no free 10.78.N.0/24 subnet is left on this host")
            }
            mine.insert(free)
            return free
        }
        let namespace = NetworkNamespace(
            name: "mct-\(getpid())-\(tag)", subnet: subnet, hostLink: "mct\(tag)h")
        let inner = "mct\(tag)i"
        do {
            try await run(ip, ["netns", "add", namespace.name])
            try await run(ip, ["link", "add", namespace.hostLink, "type", "veth", "peer", "name", inner])
            try await run(ip, ["link", "set", inner, "netns", namespace.name])
            try await run(ip, ["addr", "add", "\(namespace.hostAddress)/24", "dev", namespace.hostLink])
            try await run(ip, ["link", "set", namespace.hostLink, "up"])
            try await namespace.inside(ip, ["addr", "add", "\(namespace.innerAddress)/24", "dev", inner])
            try await namespace.inside(ip, ["link", "set", inner, "up"])
            try await namespace.inside(ip, ["link", "set", "lo", "up"])
            try await namespace.inside(nft, ["add", "table", "inet", "faults"])
            try await namespace.inside(
                nft, ["add", "chain", "inet", "faults", "input", "{ type filter hook input priority 0; }"])
            try await namespace.inside(
                nft, ["add", "chain", "inet", "faults", "output", "{ type filter hook output priority 0; }"])
        } catch {
            await namespace.remove()
            throw error
        }
        return namespace
    }

    /// Runs a command inside the namespace.
    @discardableResult
    public func inside(_ executable: String, _ arguments: [String]) async throws -> String {
        try await runProcess(Self.ip, ["netns", "exec", self.name, executable] + arguments)
    }

    /// Starts `executable` inside the namespace, as a process of its own.
    public func spawn(_ executable: String, _ arguments: [String]) throws -> SpawnedProcess {
        try SpawnedProcess(Self.ip, ["netns", "exec", self.name, executable] + arguments)
    }

    /// Drops `percent` % of the packets each way, at random (0 stops).
    public func loss(percent: Int) async throws {
        try await self.clear()
        guard percent > 0 else { return }
        try await self.inside(
            Self.nft,
            ["add", "rule", "inet", "faults", "input", "numgen", "random", "mod", "100", "<", "\(percent)", "drop"])
        try await self.inside(
            Self.nft,
            ["add", "rule", "inet", "faults", "output", "numgen", "random", "mod", "100", "<", "\(percent)", "drop"])
    }

    /// Drops every packet each way until `clear()`.
    public func partition() async throws {
        try await self.clear()
        try await self.inside(Self.nft, ["add", "rule", "inet", "faults", "input", "drop"])
        try await self.inside(Self.nft, ["add", "rule", "inet", "faults", "output", "drop"])
    }

    /// Lifts every fault.
    public func clear() async throws {
        try await self.inside(Self.nft, ["flush", "chain", "inet", "faults", "input"])
        try await self.inside(Self.nft, ["flush", "chain", "inet", "faults", "output"])
    }

    /// Removes the veth pair and the namespace (processes still inside keep running: stop them first).
    public func remove() async {
        _ = try? await runProcess(Self.ip, ["link", "del", self.hostLink])
        _ = try? await runProcess(Self.ip, ["netns", "del", self.name])
        Self.subnetsInUse.withLock { _ = $0.remove(self.subnet) }
    }

    /// The N of every 10.78.N.x address on this host's links.
    private static func subnetsOnHost() async throws -> Set<Int> {
        let listing = try await runProcess(ip, ["-4", "-o", "addr", "show"])
        var found = Set<Int>()
        for word in listing.split(whereSeparator: { $0 == " " || $0 == "/" }) where word.hasPrefix("10.78.") {
            let parts = word.split(separator: ".")
            if parts.count == 4, let n = Int(parts[2]) { found.insert(n) }
        }
        return found
    }

    /// Removes namespaces a killed test process left: named `mct-PID-…` with PID no longer
    /// running, or `mct-TAG` (older test builds did not record their pid). Deleting the
    /// namespace deletes its veth pair too.
    private static func removeStale() async {
        guard let listing = try? await runProcess(ip, ["netns", "list"]) else { return }
        for line in listing.split(separator: "\n") {
            guard let name = line.split(separator: " ").first, name.hasPrefix("mct-") else { continue }
            let fields = name.split(separator: "-")
            if fields.count == 3, let pid = Int32(fields[1]), kill(pid, 0) == 0 || errno == EPERM { continue }
            _ = try? await runProcess(ip, ["netns", "del", String(name)])
        }
    }

    private struct NamespaceError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    private static func run(_ executable: String, _ arguments: [String]) async throws {
        _ = try await runProcess(executable, arguments)
    }
}
