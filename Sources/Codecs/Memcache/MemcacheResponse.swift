public import Channels

/// A reply of a memcache server, text or meta protocol.
///
/// Thread-safe (a value). `MemcacheResponseDecoder` reads it from a server's bytes; error
/// replies are values too (`.error`), so that they fail only the request they answer.
public enum MemcacheResponse: Sendable, Equatable {
    /// `VALUE` items closed by `END` (at least one item).
    case values([MemcacheItem])
    /// `END` alone: no item (a get of missing keys, or empty stats).
    case end
    case stored, notStored, exists, notFound, deleted, touched, ok
    /// The new value after `incr`/`decr`.
    case number(UInt64)
    case version(String)
    /// `STAT` lines closed by `END`.
    case stats([MemcacheStat])
    /// A meta reply.
    case meta(MemcacheMetaResponse)
    /// `ERROR`, `CLIENT_ERROR …` or `SERVER_ERROR …`.
    case error(MemcacheError)
}

/// One item of a `get`-family reply.
public struct MemcacheItem: Sendable, Equatable {
    public var key: [UInt8]
    public var flags: UInt32
    /// Present for `gets`/`gats`.
    public var cas: UInt64?
    public var value: ByteBuffer

    public init(key: [UInt8], flags: UInt32, cas: UInt64?, value: ByteBuffer) {
        self.key = key
        self.flags = flags
        self.cas = cas
        self.value = value
    }
}

/// One `STAT name value` line.
public struct MemcacheStat: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A meta reply: status, returned flags, and the value for `VA`.
///
/// The returned flags are kept as the bytes of the reply line and read on demand, so
/// decoding a reply allocates nothing beyond its value.
public struct MemcacheMetaResponse: Sendable, Equatable {
    public enum Status: String, Sendable, Equatable {
        /// Success without a value (`HD`).
        case headerOnly = "HD"
        /// Success with a value (`VA`).
        case value = "VA"
        /// Miss (`EN`).
        case miss = "EN"
        case notFound = "NF"
        case notStored = "NS"
        case exists = "EX"
        /// The reply to `mn`.
        case noop = "MN"
        /// The reply to `me`.
        case debug = "ME"

        /// The status of a reply line starting with these two bytes, nil if none.
        init?(first: UInt8, second: UInt8) {
            switch (first, second) {
            case (UInt8(ascii: "H"), UInt8(ascii: "D")): self = .headerOnly
            case (UInt8(ascii: "V"), UInt8(ascii: "A")): self = .value
            case (UInt8(ascii: "E"), UInt8(ascii: "N")): self = .miss
            case (UInt8(ascii: "N"), UInt8(ascii: "F")): self = .notFound
            case (UInt8(ascii: "N"), UInt8(ascii: "S")): self = .notStored
            case (UInt8(ascii: "E"), UInt8(ascii: "X")): self = .exists
            case (UInt8(ascii: "M"), UInt8(ascii: "N")): self = .noop
            case (UInt8(ascii: "M"), UInt8(ascii: "E")): self = .debug
            default: return nil
            }
        }
    }

    public var status: Status
    /// The flag tokens as sent, separated by spaces (for `ME`: the key, then `name=value`s);
    /// nil when none were (most gets' replies: no buffer to retain and release per reply).
    var flagBytes: Optional<ByteBuffer>
    // Spelled out for the reason `MemcacheMetaRequest.key` is: with `ByteBuffer?` each reply
    // was built in a temporary and copied out (two retains and two releases per get).
    public var value: Optional<ByteBuffer>

    public init(status: Status, flags: [MemcacheMetaFlag] = [], value: ByteBuffer? = nil) {
        var bytes = ByteBuffer()
        for (index, flag) in flags.enumerated() {
            if index > 0 { bytes.writeInteger(UInt8(ascii: " ")) }
            bytes.writeInteger(flag.letter)
            bytes.writeBytes(flag.token)
        }
        self.init(status: status, flagBytes: bytes, value: value)
    }

    init(status: Status, flagBytes: ByteBuffer?, value: ByteBuffer?) {
        self.status = status
        // Empty is nil, so that replies with no flags compare equal however they were made.
        self.flagBytes = flagBytes?.readableBytes == 0 ? nil : flagBytes
        self.value = value
    }

    /// The returned flags, in the order the server sent them.
    public var flags: [MemcacheMetaFlag] {
        guard let flagBytes = self.flagBytes else { return [] }
        var cursor = TokenCursor(flagBytes)
        var flags: [MemcacheMetaFlag] = []
        while let token = cursor.next() {
            flags.append(MemcacheMetaFlag(rawLetter: token.first ?? 0, token: Array(token.dropFirst())))
        }
        return flags
    }

    /// The token of the first returned flag with `letter`, as text.
    public func token(_ letter: Character) -> String? {
        self.rawToken(letter).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Whether a flag (such as `W`, `X`, `Z`) was returned.
    public func has(_ letter: Character) -> Bool {
        self.rawToken(letter) != nil
    }

    private func rawToken(_ letter: Character) -> Slice<ByteBufferView>? {
        guard let ascii = letter.asciiValue, let flagBytes = self.flagBytes else { return nil }
        var cursor = TokenCursor(flagBytes)
        while let token = cursor.next() {
            if token.first == ascii { return token.dropFirst() }
        }
        return nil
    }

    /// The number after `letter`, read in place from the reply's bytes (the hot path of a get:
    /// its client flags and CAS).
    private func number(_ letter: UInt8) -> UInt64? {
        self.flagBytes?.withUnsafeReadableBytes { bytes -> UInt64? in
            var tokens = MemcacheTokens(bytes)
            while let token = tokens.next() {
                if token.first == letter { return MemcacheSyntax.unsigned(token.dropFirst()) }
            }
            return nil
        }
    }

    public var cas: UInt64? { self.number(UInt8(ascii: "c")) }
    public var clientFlags: UInt32? { self.number(UInt8(ascii: "f")).flatMap { UInt32(exactly: $0) } }
    public var ttl: Int? { self.rawToken("t").flatMap { MemcacheSyntax.signed($0) } }
    public var opaque: String? { self.token("O") }
    /// The returned key (`k`), decoded from base64 when the reply carries `b`.
    public var key: [UInt8]? {
        guard let token = self.rawToken("k") else { return nil }
        return self.has("b") ? Base64.decode(Array(token)) : Array(token)
    }

    public static func == (lhs: MemcacheMetaResponse, rhs: MemcacheMetaResponse) -> Bool {
        lhs.status == rhs.status && lhs.value == rhs.value && lhs.flags == rhs.flags
    }
}
