import Channels
public import Codecs

/// Who may use an `InProcessMemcacheServer`: memcached's ASCII authentication (`-Y authfile`).
///
/// Thread-safe; the users can be replaced while the server runs (`replace(with:)`, what
/// `mcpool serve` does on SIGHUP, as memcached reloads its authfile): connections already
/// authenticated stay so, new ones are checked against the new list. Passwords are compared
/// in time that does not depend on where they differ, and never logged.
///
/// ```swift
/// var configuration = InProcessMemcacheServer.Configuration(host: "127.0.0.1", port: 0)
/// configuration.authenticator = MemcacheAuthenticator(
///     try MemcacheCredentials.parseAuthFile("app:s3cret\nreports:other\n"))
/// ```
public final class MemcacheAuthenticator: Sendable {
    private let users: LockedValue<[MemcacheCredentials]>

    /// - Parameter users: who may authenticate; an empty list lets nobody in.
    public init(_ users: [MemcacheCredentials]) {
        self.users = LockedValue(users)
    }

    /// Replaces the users; a connection authenticated before keeps its access.
    public func replace(with users: [MemcacheCredentials]) {
        self.users.withLock { $0 = users }
    }

    /// How many users may authenticate.
    public var userCount: Int { self.users.withLock { $0.count } }

    /// Whether `username` and `password` (the bytes a client sent) match a user.
    func accepts(username: ArraySlice<UInt8>, password: ArraySlice<UInt8>) -> Bool {
        let users = self.users.withLock { $0 }
        var accepted = false
        // Every entry is compared in full, so neither the timing nor an early exit says which
        // user exists or how much of a password was right.
        for user in users {
            let nameMatches = Self.constantTimeEquals(Array(user.username.utf8), username)
            let passwordMatches = Self.constantTimeEquals(Array(user.password.utf8), password)
            accepted = accepted || (nameMatches && passwordMatches)
        }
        return accepted
    }

    private static func constantTimeEquals(_ expected: [UInt8], _ given: ArraySlice<UInt8>) -> Bool {
        var difference = UInt8(truncatingIfNeeded: expected.count ^ given.count)
        if expected.count != given.count { difference |= 1 }
        for (offset, byte) in expected.enumerated() {
            let other = offset < given.count ? given[given.startIndex + offset] : ~byte
            difference |= byte ^ other
        }
        return difference == 0
    }
}
