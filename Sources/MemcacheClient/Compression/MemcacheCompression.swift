public import Channels
public import Codecs

/// Values compressed with zstd above a size, decompressed transparently when read: less on
/// the network and in the server's memory (a 40 KB JSON document stores in about a fifth).
///
/// Thread-safe. Wraps any sender — a pool, a server set, a route, a namespace — as
/// `MemcacheNamespace` does. A stored value (set, add, replace, cas, their meta forms, bulk
/// writes, typed values, `getOrCompute`) of at least `threshold` bytes is compressed when that
/// saves bytes, and marked with the client flag bit ``MemcacheCompression/flag``; every value
/// read with that bit is decompressed and given back with the bit cleared, so callers see the
/// flags they stored. Gets in the meta protocol also ask for the flags (`f`), which is how a
/// compressed value is recognised. A value that does not decompress (corrupt, cut, or larger
/// than `maximumDecompressedSize`: a decompression bomb) is `MemcacheError.decompressionFailed`
/// naming its key, never a crash and never wrong bytes.
///
/// `append` and `prepend` pass through uncompressed: added to a compressed value they make it
/// unreadable (`decompressionFailed`), so do not mix them with values over the threshold.
/// Other clients read values under the threshold as they always did; a compressed one they
/// see as bytes with an unfamiliar flag.
///
/// ```swift
/// let pool = MemcachePool(host: "10.0.0.1", port: 11211, maxConnections: 8, group: group)
/// let cache = try MemcacheCompression(.zstd(level: 3), over: pool)
/// try await cache.set("report:42", to: ByteBuffer(string: bigJSON))   // stored compressed
/// let report = try await cache.get("report:42")                          // the JSON again
/// ```
public final class MemcacheCompression: MemcacheRequestSender {
    /// A compression algorithm and its settings.
    public struct Algorithm: Sendable, Equatable {
        let level: Int32

        /// zstd at `level` (1 fastest … 19; 3 is zstd's default), through the system's libzstd.
        public static func zstd(level: Int = 3) -> Algorithm { Algorithm(level: Int32(clamping: level)) }
    }

    /// The client flag bit that marks a compressed value: bit 13 (`0x2000`). Chosen because
    /// no common client gives it a meaning (pymemcache uses bits 0–4, dalli 0–1, spymemcached
    /// 0–1 and 8–11, php-memcached 0–7 and 16 up; this library's typed values the top 16 and
    /// the lowest 2), so another client never mistakes zstd bytes for its own zlib ones.
    public static let flag: UInt32 = 0x2000

    public let algorithm: Algorithm
    /// Values shorter than this are stored as they are.
    public let threshold: Int
    /// The largest value decompressed; a compressed value claiming more is refused.
    public let maximumDecompressedSize: Int
    public let base: any MemcacheRequestSender
    public var wireProtocol: MemcacheProtocol { self.base.wireProtocol }
    private let zstd: Zstd

    /// - Parameters:
    ///   - algorithm: how values are compressed.
    ///   - base: where the commands go.
    ///   - threshold: the smallest value compressed (1 KiB by default: smaller ones rarely
    ///     shrink enough to pay for the work).
    ///   - maximumDecompressedSize: the largest value a read decompresses (64 MiB by default).
    /// - Throws: `MemcacheError.invalidArgument` when libzstd cannot be loaded (Debian's
    ///   `libzstd1`) or a size is not positive.
    public init(
        _ algorithm: Algorithm, over base: any MemcacheRequestSender, threshold: Int = 1024,
        maximumDecompressedSize: Int = 64 << 20
    ) throws {
        guard let zstd = Zstd.shared else {
            throw MemcacheError(
                .invalidArgument, "zstd compression needs libzstd (Debian: libzstd1), which is not installed")
        }
        guard threshold > 0, maximumDecompressedSize > 0 else {
            throw MemcacheError(.invalidArgument, "the threshold and the decompression limit must be positive")
        }
        self.algorithm = algorithm
        self.threshold = threshold
        self.maximumDecompressedSize = maximumDecompressedSize
        self.base = base
        self.zstd = zstd
    }

    // MARK: MemcacheRequestSender

    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        let key: MemcacheKey? =
            switch request {
            case .meta(let meta): meta.key
            default: nil
            }
        return try self.decompressed(try await self.base.send(self.compressed(request)), key: key)
    }

    public func sendBatch(
        _ requests: [MemcacheMetaRequest], onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        try await self.base.sendBatch(requests.map(self.compressed)) { reply in
            do {
                onReply(try self.decompressed(reply, key: nil))
            } catch let error as MemcacheError {
                onReply(.error(error))
            } catch {
                onReply(.error(MemcacheError(.decompressionFailed, "\(error)")))
            }
        }
    }

    /// Reads through `send`, so that the values come with their flags: the base's own
    /// `getMany` returns values without them.
    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        try await self.getManyWithFlags(keys)
    }

    public func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
        MemcacheError]
    {
        try await self.base.writeMany(commands.map(self.compressed), limits: limits)
    }

    // MARK: Values out

    func compressed(_ request: MemcacheRequest) -> MemcacheRequest {
        switch request {
        case .store(var store):
            switch store.mode {
            case .append, .prepend: return request
            case .set, .add, .replace, .cas: break
            }
            guard let packed = self.pack(store.value) else { return request }
            store.value = packed
            store.flags |= Self.flag
            return .store(store)
        case .meta(let meta): return .meta(self.compressed(meta))
        case .metaBatch(let batch): return .metaBatch(batch.map(self.compressed))
        default: return request
        }
    }

    func compressed(_ meta: MemcacheMetaRequest) -> MemcacheMetaRequest {
        switch meta.command {
        case .get:
            // The flags say whether the value is compressed.
            return meta.askingForFlags
        case .set:
            let mode = meta.flags.first { $0.letter == UInt8(ascii: "M") }?.token.first
            guard mode != UInt8(ascii: "A"), mode != UInt8(ascii: "a"), mode != UInt8(ascii: "P"),
                mode != UInt8(ascii: "p"), let value = meta.value, let packed = self.pack(value)
            else { return meta }
            return meta.storing(packed, marked: Self.flag)
        default:
            return meta
        }
    }

    /// `value` compressed, or nil when it is under the threshold or does not shrink.
    private func pack(_ value: ByteBuffer) -> ByteBuffer? {
        guard value.readableBytes >= self.threshold else { return nil }
        let packed = value.withUnsafeReadableBytes { self.zstd.compress($0, level: self.algorithm.level) }
        guard let packed, packed.count < value.readableBytes else { return nil }
        return ByteBuffer(bytes: packed)
    }

    // MARK: Values in

    /// `response` with its values decompressed; `key` names the value in an error when the
    /// reply does not carry its key (a meta reply without `k`).
    func decompressed(_ response: MemcacheResponse, key: MemcacheKey?) throws -> MemcacheResponse {
        switch response {
        case .values(let items):
            return .values(
                try items.map { item in
                    guard item.flags & Self.flag != 0 else { return item }
                    var item = item
                    item.value = try self.unpack(item.value, key: item.key)
                    item.flags &= ~Self.flag
                    return item
                })
        case .meta(let meta):
            guard let value = meta.value, let flags = meta.clientFlags, flags & Self.flag != 0 else { return response }
            let unpacked = try self.unpack(value, key: meta.key ?? key?.bytes ?? [])
            return .meta(meta.unmarked(Self.flag, value: unpacked))
        default:
            return response
        }
    }

    private func unpack(_ value: ByteBuffer, key: [UInt8]) throws -> ByteBuffer {
        do {
            return ByteBuffer(
                bytes: try value.withUnsafeReadableBytes {
                    try self.zstd.decompress($0, limit: self.maximumDecompressedSize)
                })
        } catch let error as MemcacheError {
            let name = key.isEmpty ? "a value" : "the value of \(String(decoding: key, as: UTF8.self))"
            throw MemcacheError(.decompressionFailed, "\(name) does not decompress: \(error.message)")
        }
    }
}
