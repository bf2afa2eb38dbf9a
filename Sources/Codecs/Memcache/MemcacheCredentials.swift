import Channels

/// A user name and password for memcached's ASCII authentication (`memcached -Y authfile`,
/// since 1.5.15).
///
/// Thread-safe (a value). The exchange is one text `set` whose value is `<user> <password>`,
/// sent first on every new connection; the server answers `STORED` or
/// `CLIENT_ERROR authentication failure`, and until it has said `STORED` it answers every
/// other command with `CLIENT_ERROR unauthenticated`. Neither name nor password may hold a
/// space or a control byte (the server splits the value on spaces), nor may the name hold a
/// `:` (the authfile's separator). The password never appears in a description, a log or an
/// error.
///
/// Without TLS the password crosses the network in the clear, as memcached's own clients send
/// it: use it inside a trusted network, or over TLS.
///
/// ```swift
/// var configuration = MemcachePool.Configuration(host: "cache.internal")
/// configuration.credentials = try MemcacheCredentials(username: "app", password: "s3cret")
/// ```
public struct MemcacheCredentials: Sendable, Hashable, CustomStringConvertible {
    public let username: String
    public let password: String

    /// - Throws: `MemcacheError.invalidArgument` when either is empty or holds a byte the
    ///   exchange cannot carry (see the type's comment).
    public init(username: String, password: String) throws {
        guard Self.isValid(username.utf8, separator: true) else {
            throw MemcacheError(
                .invalidArgument, "a memcache user name must be non-empty, without spaces, control bytes or ':'")
        }
        guard Self.isValid(password.utf8, separator: false) else {
            throw MemcacheError(
                .invalidArgument, "a memcache password must be non-empty, without spaces or control bytes")
        }
        self.username = username
        self.password = password
    }

    /// `user:***`: the password is never printed.
    public var description: String { "\(self.username):***" }

    /// The key of the authentication `set`. memcached ignores it when it authenticates; a
    /// server without authentication stores the value under it, already expired (the `set`
    /// carries a TTL of -1), so the password cannot be read back there either.
    public static let authenticationKey: MemcacheKey = "swift-channels.auth"

    /// The request that authenticates a connection: send it first, expect `.stored`.
    public var authenticationRequest: MemcacheRequest {
        .store(
            MemcacheStore(
                mode: .set, key: Self.authenticationKey, ttl: -1,
                value: ByteBuffer(string: "\(self.username) \(self.password)")))
    }

    /// What memcached answers a connection whose authentication failed or has not happened.
    package static let refusals: Set<String> = ["authentication failure", "unauthenticated"]

    /// The credentials in the text of a memcached authfile: one `user:password` per line (the
    /// password runs to the line's end; `\r\n` line ends are fine). Empty lines are skipped.
    ///
    /// memcached itself keeps at most 8 entries of at most 255 bytes and silently drops the
    /// rest; this keeps all, and refuses what memcached would accept but no client could ever
    /// send (a password with a space).
    ///
    /// - Throws: `MemcacheError.invalidArgument` naming the line (never its password).
    public static func parseAuthFile(_ text: String) throws -> [MemcacheCredentials] {
        var entries: [MemcacheCredentials] = []
        var lineNumber = 0
        // "\r\n" is one Character in Swift: both line ends are separators.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let line = rawLine.last == "\r" ? rawLine.dropLast() : rawLine[...]
            if line.isEmpty { continue }
            guard let colon = line.firstIndex(of: ":") else {
                throw MemcacheError(.invalidArgument, "authfile line \(lineNumber) is not user:password")
            }
            do {
                entries.append(
                    try MemcacheCredentials(
                        username: String(line[..<colon]), password: String(line[line.index(after: colon)...])))
            } catch let error as MemcacheError {
                throw MemcacheError(.invalidArgument, "authfile line \(lineNumber): \(error.message)")
            }
        }
        return entries
    }

    private static func isValid(_ bytes: String.UTF8View, separator: Bool) -> Bool {
        !bytes.isEmpty
            && bytes.allSatisfy { byte in
                byte > UInt8(ascii: " ") && byte != 0x7F && !(separator && byte == UInt8(ascii: ":"))
            }
    }
}
