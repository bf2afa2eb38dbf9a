public import Channels
public import Codecs

/// Values larger than the server's item limit (memcached's `-I`, 1 MiB by default), split into
/// chunks under keys of their own and read back whole (mcrouter's big-value split, with a
/// checksum).
///
/// Thread-safe. Wraps any sender. A value over `chunkSize` is stored as:
/// - chunks of at most `chunkSize` bytes under `mclv:<md5 of the key>:<generation>:<n>`, with
///   the value's TTL, written first;
/// - then, under the key itself, an index — `MCLV1 <generation> <chunks> <length> <md5>` —
///   with the value's client flags and bit 14 (``MemcacheLargeValues/flag``), stored with the
///   command's own mode (set, add, replace, cas).
///
/// A read of an index fetches the chunks (one multi-get) and checks their count, length and
/// MD5: a chunk evicted, expired or overwritten reads as a **miss**, never as wrong bytes.
/// Each store uses a new generation, so a reader never mixes two versions' chunks; the chunks
/// of the version replaced are deleted after the new index is in place, and `delete` removes
/// the chunks with the index. `append` and `prepend` of a large value are refused
/// (`invalidArgument`). `touch` and `gat` change the index's TTL only: once the chunks expire
/// the value reads as a miss. Values up to `chunkSize` are stored as they are.
///
/// ```swift
/// let big = try MemcacheLargeValues(over: pool)                   // chunks of 1,000,000 bytes
/// try await big.set("video:42:thumbnails", to: ByteBuffer(bytes: fiftyMegabytes))
/// let back = try await big.get("video:42:thumbnails")             // the same bytes, or nil
/// ```
public final class MemcacheLargeValues: MemcacheRequestSender {
    /// The client flag bit that marks an index: bit 14 (`0x4000`), next to
    /// `MemcacheCompression.flag` and, like it, unused by common clients.
    public static let flag: UInt32 = 0x4000

    /// The largest chunk, and the largest value stored as it is.
    public let chunkSize: Int
    public let base: any MemcacheRequestSender
    public var wireProtocol: MemcacheProtocol { self.base.wireProtocol }

    /// - Parameters:
    ///   - base: where the commands go.
    ///   - chunkSize: at most the server's item limit less the key and item header (the
    ///     default, 1,000,000 bytes, fits memcached's default 1 MiB).
    /// - Throws: `MemcacheError.invalidArgument` for a chunk size under 1 KiB.
    public init(over base: any MemcacheRequestSender, chunkSize: Int = 1_000_000) throws {
        guard chunkSize >= 1024 else {
            throw MemcacheError(.invalidArgument, "a chunk is at least 1 KiB, not \(chunkSize) bytes")
        }
        self.base = base
        self.chunkSize = chunkSize
    }

    // MARK: MemcacheRequestSender

    public func send(_ request: MemcacheRequest) async throws -> MemcacheResponse {
        switch request {
        case .store(let store) where store.value.readableBytes > self.chunkSize:
            let index = try await self.storeChunks(of: store.key, value: store.value, ttl: store.ttl, mode: store.mode)
            var indexStore = store
            indexStore.value = index.index.bytes
            indexStore.flags |= Self.flag
            let response = try await self.base.send(.store(indexStore))
            await self.replaced(index, by: response == .stored)
            return response
        case .meta(let meta) where meta.command == .set && (meta.value?.readableBytes ?? 0) > self.chunkSize:
            return try await self.storeMeta(meta)
        case .meta(let meta) where meta.command == .get:
            return try await self.assembled(try await self.base.send(.meta(meta.askingForFlags)), key: meta.key)
        case .get, .getAndTouch:
            return try await self.assembled(try await self.base.send(request), key: nil)
        case .delete(let key, _):
            let chunks = try await self.chunkKeys(of: key)
            let response = try await self.base.send(request)
            await self.deleteQuietly(chunks)
            return response
        case .meta(let meta) where meta.command == .delete:
            var chunks: [MemcacheKey] = []
            if let key = meta.key { chunks = try await self.chunkKeys(of: key) }
            let response = try await self.base.send(request)
            await self.deleteQuietly(chunks)
            return response
        default:
            return try await self.base.send(request)
        }
    }

    public func sendBatch(
        _ requests: [MemcacheMetaRequest], onReply: @escaping @Sendable (MemcacheResponse) -> Void
    ) async throws -> MemcacheResponse {
        if requests.contains(where: { ($0.value?.readableBytes ?? 0) > self.chunkSize }) {
            throw MemcacheError(
                .invalidArgument, "a quiet batch cannot carry a value over \(self.chunkSize) bytes: store it alone")
        }
        return try await self.base.sendBatch(requests, onReply: onReply)
    }

    /// Text keys in multi-gets of 1,000 (the values come with their flags, so indexes are
    /// seen); binary keys one by one.
    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        var found = try await self.getManyWithFlags(keys.filter { !$0.isBinary })
        for key in keys where key.isBinary { found[key] = try await self.get(key) }
        return found
    }

    public func writeMany(_ commands: [MemcacheMetaRequest], limits: MemcacheBulkLimits) async throws -> [MemcacheKey:
        MemcacheError]
    {
        var failures = try await self.base.writeMany(
            commands.filter { ($0.value?.readableBytes ?? 0) <= self.chunkSize }, limits: limits)
        for command in commands where (command.value?.readableBytes ?? 0) > self.chunkSize {
            guard let key = command.key else { continue }
            do {
                let response = try await self.storeMeta(command)
                if case .meta(let meta) = response, meta.status != .headerOnly {
                    failures[key] = MemcacheError(.unexpectedResponse, "\(meta.status.rawValue)")
                }
            } catch let error as MemcacheError {
                failures[key] = error
            }
        }
        return failures
    }

    // MARK: Writing

    /// A large value's index: where its chunks are and how to check them.
    struct Index: Equatable {
        var key: MemcacheKey
        var generation: String
        var chunks: Int
        var length: Int
        var digest: String

        var bytes: ByteBuffer {
            ByteBuffer(string: "MCLV1 \(self.generation) \(self.chunks) \(self.length) \(self.digest)")
        }

        var chunkKeys: [MemcacheKey] {
            let owner = Self.hex(MD5.digest((self.key.isBinary ? [1] : [0]) + self.key.bytes))
            // Cannot fail: hex digits and colons, under 80 bytes.
            return (0..<self.chunks).compactMap { try? MemcacheKey("mclv:\(owner):\(self.generation):\($0)") }
        }

        init(key: MemcacheKey, generation: String, chunks: Int, length: Int, digest: String) {
            self.key = key
            self.generation = generation
            self.chunks = chunks
            self.length = length
            self.digest = digest
        }

        /// The index stored as `value`, or nil when it is not one.
        init?(key: MemcacheKey, value: ByteBuffer) {
            let words = String(decoding: value.readableBytesView, as: UTF8.self).split(separator: " ")
            guard words.count == 5, words[0] == "MCLV1", let chunks = Int(words[2]), let length = Int(words[3]),
                chunks > 0, chunks <= 1 << 20, length >= 0
            else { return nil }
            self.init(
                key: key, generation: String(words[1]), chunks: chunks, length: length, digest: String(words[4]))
        }

        static func hex(_ bytes: [UInt8]) -> String {
            let digits = Array("0123456789abcdef".utf8)
            var text: [UInt8] = []
            for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]] }
            return String(decoding: text, as: UTF8.self)
        }
    }

    /// Writes `value`'s chunks; returns the index to store under `key`.
    private func storeChunks(of key: MemcacheKey, value: ByteBuffer, ttl: Int, mode: MemcacheStore.Mode) async throws
        -> (index: Index, previous: [MemcacheKey])
    {
        if case .append = mode { throw Self.cannotExtend }
        if case .prepend = mode { throw Self.cannotExtend }
        let previous = try await self.chunkKeys(of: key)
        let index = Index(
            key: key, generation: Index.hex((0..<8).map { _ in UInt8.random(in: 0...255) }),
            chunks: (value.readableBytes + self.chunkSize - 1) / self.chunkSize, length: value.readableBytes,
            digest: Index.hex(MD5.digest(value.readableBytesView)))
        for (number, chunkKey) in index.chunkKeys.enumerated() {
            let start = number * self.chunkSize
            let chunk = value.getSlice(
                at: value.readerIndex + start, length: min(self.chunkSize, value.readableBytes - start))
            try await self.base.set(chunkKey, to: chunk ?? ByteBuffer(), ttl: ttl)
        }
        return (index, previous)
    }

    private static let cannotExtend = MemcacheError(
        .invalidArgument, "append and prepend cannot extend a value stored in chunks")

    private func storeMeta(_ meta: MemcacheMetaRequest) async throws -> MemcacheResponse {
        guard let key = meta.key, let value = meta.value else { return try await self.base.send(.meta(meta)) }
        let modeToken = meta.flags.first { $0.letter == UInt8(ascii: "M") }?.token.first.map {
            Character(Unicode.Scalar($0))
        }
        let mode: MemcacheStore.Mode =
            switch modeToken?.uppercased() {
            case "A": .append
            case "P": .prepend
            default: .set
            }
        let ttl = meta.flags.first { $0.letter == UInt8(ascii: "T") }.flatMap {
            Int(String(decoding: $0.token, as: UTF8.self))
        }
        let index = try await self.storeChunks(of: key, value: value, ttl: ttl ?? 0, mode: mode)
        let response = try await self.base.send(.meta(meta.storing(index.index.bytes, marked: Self.flag)))
        if case .meta(let reply) = response { await self.replaced(index, by: reply.status == .headerOnly) }
        return response
    }

    /// After an index store: the replaced version's chunks go when the new index is in
    /// place; the new chunks go when the store did not happen (add of a present key, say).
    private func replaced(_ stored: (index: Index, previous: [MemcacheKey]), by succeeded: Bool) async {
        await self.deleteQuietly(succeeded ? stored.previous : stored.index.chunkKeys)
    }

    /// The chunk keys of the large value under `key` now, if it is one.
    private func chunkKeys(of key: MemcacheKey) async throws -> [MemcacheKey] {
        guard let item = try await self.base.getItem(key), item.flags & Self.flag != 0,
            let index = Index(key: key, value: item.value)
        else { return [] }
        return index.chunkKeys
    }

    private func deleteQuietly(_ keys: [MemcacheKey]) async {
        for key in keys { _ = try? await self.base.delete(key) }
    }

    // MARK: Reading

    /// `response` with every index replaced by its whole value, or dropped (a miss) when a
    /// chunk is missing or does not match.
    /// `key`: the key a meta get asked for (its reply need not carry it).
    private func assembled(_ response: MemcacheResponse, key: MemcacheKey?) async throws -> MemcacheResponse {
        switch response {
        case .values(let items):
            var whole: [MemcacheItem] = []
            for var item in items {
                guard item.flags & Self.flag != 0 else {
                    whole.append(item)
                    continue
                }
                guard let key = try? MemcacheKey(textBytes: item.key),
                    let value = try await self.value(of: Index(key: key, value: item.value))
                else { continue }
                item.value = value
                item.flags &= ~Self.flag
                whole.append(item)
            }
            return whole.isEmpty ? .end : .values(whole)
        case .meta(let meta):
            guard meta.status == .value, let flags = meta.clientFlags, flags & Self.flag != 0, let stored = meta.value
            else { return response }
            guard let key, let value = try await self.value(of: Index(key: key, value: stored)) else {
                return .meta(MemcacheMetaResponse(status: .miss))
            }
            return .meta(meta.unmarked(Self.flag, value: value))
        default:
            return response
        }
    }

    /// The whole value an index describes, or nil when a chunk is missing or it does not
    /// match the index's length and checksum.
    private func value(of index: Index?) async throws -> ByteBuffer? {
        guard let index else { return nil }
        let keys = index.chunkKeys
        let chunks = try await self.base.getMany(keys)
        guard chunks.count == keys.count else { return nil }
        var whole = ByteBuffer(capacity: index.length)
        for key in keys {
            guard var chunk = chunks[key] else { return nil }
            whole.writeBuffer(&chunk)
        }
        guard whole.readableBytes == index.length, Index.hex(MD5.digest(whole.readableBytesView)) == index.digest
        else { return nil }
        return whole
    }
}
