public import Channels

/// A request to a memcache server, text or meta protocol.
///
/// Thread-safe (a value). Keys are `MemcacheKey`s, validated at construction, and values are
/// bytes. `MemcacheRequestEncoder` writes it; `MemcacheRequestDecoder` reads it on a server.
///
/// ```swift
/// let request = MemcacheRequest.meta(.get(try MemcacheKey("k"), flags: [.returnValue, .returnFlags]))
/// ```
public enum MemcacheRequest: Sendable, Equatable {
    /// `get`/`gets` (with CAS) of one or more keys.
    case get(keys: [MemcacheKey], withCAS: Bool)
    /// `gat`/`gats`: get and set a new TTL.
    case getAndTouch(ttl: Int, keys: [MemcacheKey], withCAS: Bool)
    /// `set`, `add`, `replace`, `append`, `prepend` or `cas`.
    case store(MemcacheStore)
    case delete(key: MemcacheKey, noreply: Bool)
    /// `incr`/`decr`.
    case arithmetic(key: MemcacheKey, delta: UInt64, increment: Bool, noreply: Bool)
    case touch(key: MemcacheKey, ttl: Int, noreply: Bool)
    /// `flush_all [delay]`.
    case flushAll(delay: Int?, noreply: Bool)
    case version
    case verbosity(level: Int, noreply: Bool)
    /// `stats` or `stats <argument>`.
    case stats(argument: String?)
    /// A meta command.
    case meta(MemcacheMetaRequest)
    /// Several meta commands sent in quiet mode, closed by `mn`; the replies are those the
    /// quiet mode keeps, then `MN`.
    case metaBatch([MemcacheMetaRequest])
    /// `quit`: the server closes the connection.
    case quit

    /// Whether sending it twice has the effect of sending it once (reads, delete, touch,
    /// administrative reads): such a request may be retried on another connection when its
    /// own died before answering.
    public var isIdempotent: Bool {
        switch self {
        case .get, .getAndTouch, .delete, .touch, .version, .stats, .flushAll: return true
        case .meta(let meta): return meta.command == .get || meta.command == .delete || meta.command == .noop
        case .metaBatch(let batch):
            return batch.allSatisfy { $0.command == .get || $0.command == .delete || $0.command == .noop }
        case .store, .arithmetic, .verbosity, .quit: return false
        }
    }

    /// Whether the server sends no reply to this request (`noreply`, `quit`). A lone quiet
    /// meta command may be answered (a hit of `mg … q`) or not: the client closes it with
    /// `mn`, so it is not counted here.
    /// Whether the request may be sent again when its connection closed before any byte of
    /// its reply arrived: sending it twice has the effect of sending it once *and* the second
    /// reply means what the first would have meant. Reads, `touch`, `gat`, `version`,
    /// `stats`, `flush_all`, `mn` and quiet batches of those. Not `delete`: a first attempt
    /// may have deleted the item, and the second would answer "not found".
    public var isRetryable: Bool {
        switch self {
        case .get, .getAndTouch, .touch, .version, .stats, .flushAll: return true
        case .meta(let meta): return meta.isRetryable
        case .metaBatch(let batch): return batch.allSatisfy(\.isRetryable)
        case .delete, .store, .arithmetic, .verbosity, .quit: return false
        }
    }

    public var expectsNoReply: Bool {
        switch self {
        case .store(let store): return store.noreply
        case .delete(_, let noreply), .arithmetic(_, _, _, let noreply), .touch(_, _, let noreply),
            .flushAll(_, let noreply), .verbosity(_, let noreply):
            return noreply
        case .quit: return true
        case .get, .getAndTouch, .version, .stats, .meta, .metaBatch: return false
        }
    }
}

/// A storage command.
public struct MemcacheStore: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        case set, add, replace, append, prepend
        /// `cas`: store only if the item's CAS value is still this one.
        case cas(UInt64)
    }

    public var mode: Mode
    public var key: MemcacheKey
    public var flags: UInt32
    /// Seconds (up to 30 days) or a Unix time; 0: never expires. Sent within memcached's 32
    /// bits (`memcacheExpiry`): a later time is the latest it keeps.
    public var ttl: Int
    public var value: ByteBuffer
    public var noreply: Bool

    public init(mode: Mode, key: MemcacheKey, flags: UInt32 = 0, ttl: Int = 0, value: ByteBuffer, noreply: Bool = false)
    {
        self.mode = mode
        self.key = key
        self.flags = flags
        self.ttl = ttl
        self.value = value
        self.noreply = noreply
    }
}

/// A meta command: `mg`, `ms`, `md`, `ma`, `mn` or `me`.
public struct MemcacheMetaRequest: Sendable, Equatable {
    public enum Command: String, Sendable, Equatable {
        case get = "mg"
        case set = "ms"
        case delete = "md"
        case arithmetic = "ma"
        case noop = "mn"
        case debug = "me"

        /// The command's second byte on the wire (the first is `m`).
        var secondLetter: UInt8 {
            switch self {
            case .get: UInt8(ascii: "g")
            case .set: UInt8(ascii: "s")
            case .delete: UInt8(ascii: "d")
            case .arithmetic: UInt8(ascii: "a")
            case .noop: UInt8(ascii: "n")
            case .debug: UInt8(ascii: "e")
            }
        }
    }

    public var command: Command
    // `Optional<…>` spelled out, not `…?`: a `var` of type `T?` starts as nil before the init
    // assigns it, and the 6.3 optimizer then built the request in a temporary and copied it
    // out — the key retained and released once more per get (uprobes under `mcpool bench`).
    /// Absent only for `mn`.
    public var key: Optional<MemcacheKey>
    public var flags: [MemcacheMetaFlag]
    /// The data block of `ms`.
    public var value: Optional<ByteBuffer>

    // Inlinable, with the makers below: a request built in another module (the pool's `get`)
    // is then built in place, not built here and copied out (a retain and a release of the
    // key and the flags per request, uprobes under `mcpool bench`).
    @inlinable
    public init(command: Command, key: MemcacheKey?, flags: [MemcacheMetaFlag] = [], value: ByteBuffer? = nil) {
        self.command = command
        self.key = key
        self.flags = flags
        self.value = value
    }

    @inlinable
    public static func get(_ key: MemcacheKey, flags: [MemcacheMetaFlag]) -> MemcacheMetaRequest {
        MemcacheMetaRequest(command: .get, key: key, flags: flags)
    }

    @inlinable
    public static func set(_ key: MemcacheKey, value: ByteBuffer, flags: [MemcacheMetaFlag] = []) -> MemcacheMetaRequest
    {
        MemcacheMetaRequest(command: .set, key: key, flags: flags, value: value)
    }

    @inlinable
    public static func delete(_ key: MemcacheKey, flags: [MemcacheMetaFlag] = []) -> MemcacheMetaRequest {
        MemcacheMetaRequest(command: .delete, key: key, flags: flags)
    }

    public static func arithmetic(_ key: MemcacheKey, flags: [MemcacheMetaFlag]) -> MemcacheMetaRequest {
        MemcacheMetaRequest(command: .arithmetic, key: key, flags: flags)
    }

    public static let noop = MemcacheMetaRequest(command: .noop, key: nil)

    public static func debug(_ key: MemcacheKey) -> MemcacheMetaRequest {
        MemcacheMetaRequest(command: .debug, key: key)
    }

    package var isQuiet: Bool { self.flags.contains(.quiet) }

    /// `mn`, or an `mg` that changes nothing a second attempt would see differently: not one
    /// that vivifies (`N`) or wins a recache (`R`), where the first attempt's effect shows in
    /// the second's reply.
    var isRetryable: Bool {
        switch self.command {
        case .noop: return true
        case .get: return !self.flags.contains { $0.letter == UInt8(ascii: "N") || $0.letter == UInt8(ascii: "R") }
        case .set, .delete, .arithmetic, .debug: return false
        }
    }
}
