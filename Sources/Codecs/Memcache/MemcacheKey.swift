/// A memcache key, validated before any byte is written, so a key can never inject a second
/// command.
///
/// Thread-safe (a value). A text key is 1–250 bytes with no space and no control byte (which
/// rules out `\r` and `\n`). Any other bytes — binary keys — go through `binary(_:)` and are
/// sent base64-encoded with the meta protocol's `b` flag.
///
/// ```swift
/// let key = try MemcacheKey("user:42")
/// let raw = try MemcacheKey.binary([0x00, 0xff, 0x0a])
/// try MemcacheKey("a\r\nflush_all")   // throws MemcacheError.invalidKey
/// ```
public struct MemcacheKey: Sendable, Hashable, CustomStringConvertible {
    /// The key's bytes as the application sees them.
    public let bytes: [UInt8]
    /// Whether the key must travel base64-encoded (meta commands only).
    public let isBinary: Bool

    /// The longest key memcached accepts.
    public static let maximumLength = MemcacheSyntax.maximumKeyLength

    /// A text key. - Throws: `MemcacheError.invalidKey`.
    public init(_ text: String) throws {
        try self.init(textBytes: Array(text.utf8))
    }

    /// A text key from bytes. - Throws: `MemcacheError.invalidKey`.
    public init(textBytes bytes: [UInt8]) throws {
        guard !bytes.isEmpty else {
            throw MemcacheError(.invalidKey, "a key cannot be empty")
        }
        guard bytes.count <= Self.maximumLength else {
            throw MemcacheError(.invalidKey, "a key has at most \(Self.maximumLength) bytes, this one \(bytes.count)")
        }
        if let bad = MemcacheSyntax.firstForbiddenByte(in: bytes) {
            throw MemcacheError(
                .invalidKey,
                "byte \(bytes[bad]) at offset \(bad) is a space or control byte; use MemcacheKey.binary for such keys")
        }
        self.bytes = bytes
        self.isBinary = false
    }

    private init(binary bytes: [UInt8]) {
        self.bytes = bytes
        self.isBinary = true
    }

    /// A key of arbitrary bytes (1–250 of them... after decoding, as memcached stores them),
    /// sent base64-encoded with the meta `b` flag. - Throws: `MemcacheError.invalidKey`.
    public static func binary(_ bytes: [UInt8]) throws -> MemcacheKey {
        guard !bytes.isEmpty, bytes.count <= 187 else {
            // 187 bytes are 250 in base64, the longest key the server takes on the wire.
            throw MemcacheError(.invalidKey, "a binary key has 1 to 187 bytes, this one \(bytes.count)")
        }
        return MemcacheKey(binary: bytes)
    }

    /// The key as written on the wire: itself, or its base64 form for binary keys (a server
    /// echoing a key with the meta `k` flag writes these bytes).
    public var wireBytes: [UInt8] {
        self.isBinary ? Base64.encode(self.bytes) : self.bytes
    }

    /// Hashes the bytes as one block (an array of bytes would feed the hasher byte by byte,
    /// which showed in the pool's profiles: keys are hashed to coalesce gets).
    public func hash(into hasher: inout Hasher) {
        self.bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
        hasher.combine(self.isBinary)
    }

    public var description: String {
        self.isBinary
            ? "binary(\(Base64.encode(self.bytes).count) b64 bytes)" : String(decoding: self.bytes, as: UTF8.self)
    }
}

extension MemcacheKey: ExpressibleByStringLiteral {
    /// A key from a literal in source code (`let key: MemcacheKey = "user:42"`). A literal that
    /// is not a valid key is a programmer error and traps; keys from data go through the
    /// throwing initializer. Note that `MemcacheKey("literal")` is literal syntax too: with
    /// text that is not fixed in source, pass a `String` variable to get the throwing check.
    public init(stringLiteral value: String) {
        do {
            try self.init(value)
        } catch {
            preconditionFailure("invalid key literal \"\(value)\": \(error)") // SAFETY: literals only, never peer data
        }
    }
}
