public import Channels
import Codecs

// The everyday commands, for anything that sends requests: one connection, a pool, a set of
// servers. In the meta protocol where it is equivalent (`wireProtocol` `.meta`), in the
// classic text protocol otherwise.
extension MemcacheRequestSender {
    /// The value stored under `key`, or nil on a miss (`mg <key> v`: only the value is asked
    /// for; `getItem` also returns the client flags and CAS). Text: `get <key>`.
    public func get(_ key: MemcacheKey) async throws -> ByteBuffer? {
        try await self.getThroughSend(key)
    }

    /// `get` built on `send` (the default, and any sender's fallback from a faster way).
    package func getThroughSend(_ key: MemcacheKey) async throws -> ByteBuffer? {
        if self.wireProtocol != .meta {
            return try await self.textItem(.get(keys: [key], withCAS: false), key: key)?.value
        }
        return try Self.value(ofGet: await self.send(.meta(.get(key, flags: MemcacheMetaFlag.valueFlags))))
    }

    /// The value in the reply to `mg <key> v`: nil on a miss. - Throws: the server's error
    /// reply, or `MemcacheError.unexpectedResponse` for any other reply.
    package static func value(ofGet response: consuming MemcacheResponse) throws -> ByteBuffer? {
        switch consume response {
        case .meta(var meta):
            switch meta.status {
            // Moved out, not copied: a copy retained the value, and dropping the reply
            // released it again (uprobes under `mcpool bench`).
            case .value: return meta.value.take() ?? ByteBuffer()
            case .miss: return nil
            default: throw Self.unexpected(.meta(meta), for: "mg")
            }
        case .error(let error): throw error
        case let other: throw Self.unexpected(other, for: "mg")
        }
    }

    /// The value, client flags and CAS of `key`, or nil on a miss.
    public func getItem(_ key: MemcacheKey) async throws -> MemcacheItem? {
        if self.wireProtocol != .meta { return try await self.textItem(.get(keys: [key], withCAS: true), key: key) }
        let response = try await self.send(.meta(.get(key, flags: MemcacheMetaFlag.itemFlags)))
        return try Self.item(from: response, key: key)
    }

    /// Gets `key` and sets its TTL (`gat` semantics).
    public func getAndTouch(_ key: MemcacheKey, ttl: Int) async throws -> MemcacheItem? {
        if self.wireProtocol != .meta {
            return try await self.textItem(.getAndTouch(ttl: ttl, keys: [key], withCAS: true), key: key)
        }
        let response = try await self.send(
            .meta(.get(key, flags: [.returnValue, .returnFlags, .returnCAS, .ttl(ttl)])))
        return try Self.item(from: response, key: key)
    }

    /// The values of every key that is present, in one round trip. Values are matched by
    /// key, so a proxy may return them in any order.
    public func getMany(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        try await self.getManyInOneRequest(keys)
    }

    /// `getMany` as one request (a text multi-get, or one quiet meta batch for binary keys).
    package func getManyInOneRequest(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        guard !keys.isEmpty else { return [:] }
        if self.wireProtocol != .meta || keys.allSatisfy({ !$0.isBinary }) {
            // One text multi-get: the server answers it in one batch. (A binary key in the
            // text protocol is an `invalidArgument`, and nothing is sent.)
            let response = try await self.send(.get(keys: keys, withCAS: false))
            let byBytes = Dictionary(keys.map { ($0.bytes, $0) }, uniquingKeysWith: { first, _ in first })
            switch response {
            case .end: return [:]
            case .values(let items):
                var found: [MemcacheKey: ByteBuffer] = [:]
                for item in items { if let key = byBytes[item.key] { found[key] = item.value } }
                return found
            default: throw Self.unexpected(response, for: "get")
            }
        }
        // Binary keys: quiet meta gets closed by mn; hits come back with their key.
        let collected = LockedValue<[MemcacheResponse]>([])
        let batch = keys.map { MemcacheMetaRequest.get($0, flags: [.returnValue, .returnKey]) }
        _ = try await self.sendBatch(batch) { response in collected.withLock { $0.append(response) } }
        var found: [MemcacheKey: ByteBuffer] = [:]
        let byBytes = Dictionary(keys.map { ($0.bytes, $0) }, uniquingKeysWith: { first, _ in first })
        for response in collected.withLock({ $0 }) {
            switch response {
            case .meta(let meta) where meta.status == .value:
                if let bytes = meta.key, let key = byBytes[bytes], let value = meta.value { found[key] = value }
            case .error(let error): throw error
            default: throw Self.unexpected(response, for: "mg")
            }
        }
        return found
    }

    /// Stores `value` under `key`.
    public func set(_ key: MemcacheKey, to value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws {
        _ = try await self.store(key, value, mode: .set, flags: flags, ttl: ttl)
    }

    /// Stores only if `key` is absent. Returns whether it was stored.
    public func add(_ key: MemcacheKey, value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws -> Bool {
        try await self.store(key, value, mode: .add, flags: flags, ttl: ttl) == .stored
    }

    /// Stores only if `key` is present. Returns whether it was stored.
    public func replace(_ key: MemcacheKey, value: ByteBuffer, flags: UInt32 = 0, ttl: Int = 0) async throws -> Bool {
        try await self.store(key, value, mode: .replace, flags: flags, ttl: ttl) == .stored
    }

    /// Appends to an existing value. Returns whether the key was present.
    public func append(_ key: MemcacheKey, _ value: ByteBuffer) async throws -> Bool {
        try await self.store(key, value, mode: .append, flags: nil, ttl: nil) == .stored
    }

    /// Prepends to an existing value. Returns whether the key was present.
    public func prepend(_ key: MemcacheKey, _ value: ByteBuffer) async throws -> Bool {
        try await self.store(key, value, mode: .prepend, flags: nil, ttl: nil) == .stored
    }

    /// Stores only if the item's CAS value is still `cas`.
    public func compareAndSwap(_ key: MemcacheKey, value: ByteBuffer, cas: UInt64, flags: UInt32 = 0, ttl: Int = 0)
        async throws -> MemcacheCASResult
    {
        switch try await self.store(key, value, mode: .cas(cas), flags: flags, ttl: ttl) {
        case .stored: return .stored
        case .exists: return .exists
        default: return .notFound
        }
    }

    /// `compareAndSwap` by its memcache name.
    public func cas(_ key: MemcacheKey, value: ByteBuffer, cas: UInt64, flags: UInt32 = 0, ttl: Int = 0) async throws
        -> MemcacheCASResult
    {
        try await self.compareAndSwap(key, value: value, cas: cas, flags: flags, ttl: ttl)
    }

    /// Deletes `key`. Returns whether it was present.
    public func delete(_ key: MemcacheKey) async throws -> Bool {
        let text = self.wireProtocol != .meta
        let response = try await self.send(text ? .delete(key: key, noreply: false) : .meta(.delete(key)))
        switch response {
        case .meta(let meta) where meta.status == .headerOnly: return true
        case .meta(let meta) where meta.status == .notFound: return false
        case .deleted: return true
        case .notFound: return false
        default: throw Self.unexpected(response, for: text ? "delete" : "md")
        }
    }

    /// Adds `delta`; returns the new value, or nil when `key` is absent.
    /// - Throws: `MemcacheError.clientError` when the value is not a number.
    public func increment(_ key: MemcacheKey, by delta: UInt64 = 1) async throws -> UInt64? {
        try await self.arithmetic(key, delta: delta, increment: true)
    }

    /// Subtracts `delta` (stopping at 0); returns the new value, or nil when `key` is absent.
    public func decrement(_ key: MemcacheKey, by delta: UInt64 = 1) async throws -> UInt64? {
        try await self.arithmetic(key, delta: delta, increment: false)
    }

    /// Sets a new TTL. Returns whether `key` was present.
    public func touch(_ key: MemcacheKey, ttl: Int) async throws -> Bool {
        let text = self.wireProtocol != .meta
        let response = try await self.send(
            text ? .touch(key: key, ttl: ttl, noreply: false) : .meta(.get(key, flags: [.ttl(ttl)])))
        switch response {
        case .meta(let meta) where meta.status == .headerOnly: return true
        case .meta(let meta) where meta.status == .miss: return false
        case .touched: return true
        case .notFound: return false
        default: throw Self.unexpected(response, for: text ? "touch" : "mg")
        }
    }

    /// Invalidates every item, now or after `delay` seconds.
    public func flushAll(delay: Int? = nil) async throws {
        try Self.expect(.ok, try await self.send(.flushAll(delay: delay, noreply: false)), for: "flush_all")
    }

    /// The server's version string.
    public func version() async throws -> String {
        let response = try await self.send(.version)
        guard case .version(let version) = response else { throw Self.unexpected(response, for: "version") }
        return version
    }

    /// The server's statistics (`stats`, or `stats <argument>`), name to value.
    public func stats(_ argument: String? = nil) async throws -> [String: String] {
        let response = try await self.send(.stats(argument: argument))
        switch response {
        case .end: return [:]
        case .stats(let lines):
            return Dictionary(lines.map { ($0.name, $0.value) }, uniquingKeysWith: { _, last in last })
        default: throw Self.unexpected(response, for: "stats")
        }
    }

    /// Sets the server's logging verbosity.
    public func verbosity(_ level: Int) async throws {
        try Self.expect(.ok, try await self.send(.verbosity(level: level, noreply: false)), for: "verbosity")
    }

    // MARK: Helpers

    /// Stores in either protocol; the outcome as a text reply (`.stored`, `.notStored`,
    /// `.exists`, `.notFound`). `flags` and `ttl` are nil for append and prepend, which keep
    /// the item's own (the text protocol's numbers for them are ignored by the server).
    private func store(
        _ key: MemcacheKey, _ value: ByteBuffer, mode: MemcacheStore.Mode, flags: UInt32?, ttl: Int?
    ) async throws -> MemcacheResponse {
        if self.wireProtocol != .meta {
            let store = MemcacheStore(mode: mode, key: key, flags: flags ?? 0, ttl: ttl ?? 0, value: value)
            let response = try await self.send(.store(store))
            guard [.stored, .notStored, .exists, .notFound].contains(response) else {
                throw Self.unexpected(response, for: MemcacheRequest.store(store).commandName)
            }
            return response
        }
        var metaFlags: [MemcacheMetaFlag]
        switch mode {
        case .set: metaFlags = [.mode("S")]
        case .add: metaFlags = [.mode("E")]
        case .replace: metaFlags = [.mode("R")]
        case .append: metaFlags = [.mode("A")]
        case .prepend: metaFlags = [.mode("P")]
        case .cas(let unique): metaFlags = [.mode("S"), .compareCAS(unique)]
        }
        if let flags, flags != 0 { metaFlags.append(.clientFlags(flags)) }
        if let ttl, ttl != 0 { metaFlags.append(.ttl(ttl)) }
        let response = try await self.send(.meta(.set(key, value: value, flags: metaFlags)))
        guard case .meta(let meta) = response else { throw Self.unexpected(response, for: "ms") }
        switch meta.status {
        case .headerOnly: return .stored
        case .notStored: return .notStored
        case .exists: return .exists
        case .notFound: return .notFound
        default: throw Self.unexpected(response, for: "ms")
        }
    }

    /// A text get of one key: its item, or nil on a miss.
    private func textItem(_ request: MemcacheRequest, key: MemcacheKey) async throws -> MemcacheItem? {
        let response = try await self.send(request)
        switch response {
        case .end: return nil
        case .values(let items):
            guard let item = items.first(where: { $0.key == key.bytes }) else {
                throw Self.unexpected(response, for: request.commandName)
            }
            return item
        default: throw Self.unexpected(response, for: request.commandName)
        }
    }

    private func arithmetic(_ key: MemcacheKey, delta: UInt64, increment: Bool) async throws -> UInt64? {
        if self.wireProtocol != .meta {
            let request = MemcacheRequest.arithmetic(key: key, delta: delta, increment: increment, noreply: false)
            let response = try await self.send(request)
            switch response {
            case .number(let value): return value
            case .notFound: return nil
            default: throw Self.unexpected(response, for: request.commandName)
            }
        }
        let response = try await self.send(
            .meta(.arithmetic(key, flags: [.mode(increment ? "I" : "D"), .delta(delta), .returnValue])))
        switch response {
        case .meta(let meta) where meta.status == .value:
            guard
                let text = meta.value?.getString(
                    at: meta.value?.readerIndex ?? 0, length: meta.value?.readableBytes ?? 0),
                let number = UInt64(text.split(separator: " ").first ?? "")
            else { throw Self.unexpected(response, for: "ma") }
            return number
        case .meta(let meta) where meta.status == .notFound: return nil
        default: throw Self.unexpected(response, for: "ma")
        }
    }

    private static func item(from response: MemcacheResponse, key: MemcacheKey) throws -> MemcacheItem? {
        switch response {
        case .meta(let meta) where meta.status == .value:
            return MemcacheItem(
                key: key.bytes, flags: meta.clientFlags ?? 0, cas: meta.cas, value: meta.value ?? ByteBuffer())
        case .meta(let meta) where meta.status == .miss:
            return nil
        default:
            throw Self.unexpected(response, for: "mg")
        }
    }

    private static func expect(_ expected: MemcacheResponse, _ response: MemcacheResponse, for command: String) throws {
        guard response == expected else { throw Self.unexpected(response, for: command) }
    }

    static func unexpected(_ response: MemcacheResponse, for command: String) -> MemcacheError {
        MemcacheError(.unexpectedResponse, "\(command) got \(response)")
    }
}
