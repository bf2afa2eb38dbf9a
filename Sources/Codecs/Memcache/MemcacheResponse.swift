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
    }

    public var status: Status
    /// The returned flags, in the order the server sent them (for `ME`: the key, then the
    /// `name=value` pairs as tokens).
    public var flags: [MemcacheMetaFlag]
    public var value: ByteBuffer?

    public init(status: Status, flags: [MemcacheMetaFlag] = [], value: ByteBuffer? = nil) {
        self.status = status
        self.flags = flags
        self.value = value
    }

    /// The token of the first returned flag with `letter`, as text.
    public func token(_ letter: Character) -> String? {
        guard let ascii = letter.asciiValue, let flag = self.flags.first(where: { $0.letter == ascii }) else { return nil }
        return String(decoding: flag.token, as: UTF8.self)
    }

    /// Whether a token-less flag (such as `W`, `X`, `Z`) was returned.
    public func has(_ letter: Character) -> Bool {
        guard let ascii = letter.asciiValue else { return false }
        return self.flags.contains { $0.letter == ascii }
    }

    public var cas: UInt64? { self.token("c").flatMap { UInt64($0) } }
    public var clientFlags: UInt32? { self.token("f").flatMap { UInt32($0) } }
    public var ttl: Int? { self.token("t").flatMap { Int($0) } }
    public var opaque: String? { self.token("O") }
    /// The returned key (`k`), decoded from base64 when the reply carries `b`.
    public var key: [UInt8]? {
        guard let ascii = Character("k").asciiValue, let flag = self.flags.first(where: { $0.letter == ascii }) else { return nil }
        return self.has("b") ? Base64.decode(flag.token) : flag.token
    }
}
