import Foundation
import Glibc

/// A network namespace joined to this one by a veth pair, for real packet loss and partitions
/// (nftables rules inside the namespace; this kernel has no `netem`). The host side is
/// `10.78.N.1`, the namespace side `10.78.N.2`, N chosen at random. Needs root, iproute2 and
/// nftables; `make()` returns nil (with the reason) where a namespace cannot be made.
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
        self.hostLink = hostLink
        self.hostAddress = "10.78.\(subnet).1"
        self.innerAddress = "10.78.\(subnet).2"
    }

    /// Makes the namespace, its veth pair and an nftables table with input and output chains.
    public static func make() async throws -> NetworkNamespace {
        let tag = String(UInt32.random(in: 0...0xFFFFF), radix: 16)
        let subnet = Int.random(in: 1...254)
        let namespace = NetworkNamespace(name: "mct-\(tag)", subnet: subnet, hostLink: "mct\(tag)h")
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
    }

    private static func run(_ executable: String, _ arguments: [String]) async throws {
        _ = try await runProcess(executable, arguments)
    }
}
