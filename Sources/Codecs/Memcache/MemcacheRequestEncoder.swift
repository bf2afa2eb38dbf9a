public import Channels

/// Writes client requests in the text or meta protocol.
///
/// Thread-safe (a value). Keys were validated when they were made; a binary key in a text
/// command (which cannot carry it) is a `MemcacheError.invalidArgument` and nothing is
/// written.
///
/// ```swift
/// var bytes = ByteBuffer()
/// try MemcacheRequestEncoder().encode(.get(keys: ["a", "b"], withCAS: false), into: &bytes)  // "get a b\r\n"
/// ```
public struct MemcacheRequestEncoder: MessageToByteEncoder {
    public init() {}

    public func encode(_ request: MemcacheRequest, into buffer: inout ByteBuffer) throws {
        switch request {
        case .get(let keys, let withCAS):
            try self.retrieval(withCAS ? "gets" : "get", ttl: nil, keys: keys, into: &buffer)
        case .getAndTouch(let ttl, let keys, let withCAS):
            try self.retrieval(withCAS ? "gats" : "gat", ttl: ttl, keys: keys, into: &buffer)
        case .store(let store):
            try self.store(store, into: &buffer)
        case .delete(let key, let noreply):
            try self.line("delete", key: key, numbers: [], noreply: noreply, into: &buffer)
        case .arithmetic(let key, let delta, let increment, let noreply):
            try self.line(
                increment ? "incr" : "decr", key: key, numbers: [.unsigned(delta)], noreply: noreply, into: &buffer)
        case .touch(let key, let ttl, let noreply):
            try self.line("touch", key: key, numbers: [.signed(memcacheExpiry(ttl))], noreply: noreply, into: &buffer)
        case .flushAll(let delay, let noreply):
            buffer.writeString("flush_all")
            if let delay { Self.write(.signed(delay), into: &buffer) }
            Self.finish(noreply: noreply, into: &buffer)
        case .version:
            buffer.writeString("version\r\n")
        case .verbosity(let level, let noreply):
            buffer.writeString("verbosity")
            Self.write(.signed(level), into: &buffer)
            Self.finish(noreply: noreply, into: &buffer)
        case .stats(let argument):
            buffer.writeString("stats")
            if let argument {
                guard !argument.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }), !argument.isEmpty else {
                    throw MemcacheError(.invalidArgument, "a stats argument cannot hold control bytes")
                }
                buffer.writeSpace()
                buffer.writeString(argument)
            }
            buffer.writeCRLF()
        case .meta(let meta):
            try self.meta(meta, forceQuiet: false, into: &buffer)
        case .metaBatch(let requests):
            for meta in requests { try self.meta(meta, forceQuiet: true, into: &buffer) }
            buffer.writeString("mn\r\n")
        case .quit:
            buffer.writeString("quit\r\n")
        }
    }

    private enum Number {
        case unsigned(UInt64)
        case signed(Int)
    }

    private static func write(_ number: Number, into buffer: inout ByteBuffer) {
        buffer.writeSpace()
        switch number {
        case .unsigned(let value): buffer.writeDecimal(value)
        case .signed(let value): buffer.writeDecimal(value)
        }
    }

    private static func finish(noreply: Bool, into buffer: inout ByteBuffer) {
        if noreply { buffer.writeString(" noreply") }
        buffer.writeCRLF()
    }

    private static func textKey(_ key: MemcacheKey) throws -> [UInt8] {
        guard !key.isBinary else {
            throw MemcacheError(
                .invalidArgument, "binary keys need the meta protocol (the text protocol cannot carry them)")
        }
        return key.bytes
    }

    private func retrieval(_ command: String, ttl: Int?, keys: [MemcacheKey], into buffer: inout ByteBuffer) throws {
        guard !keys.isEmpty else { throw MemcacheError(.invalidArgument, "\(command) needs at least one key") }
        let wire = try keys.map(Self.textKey)
        buffer.writeString(command)
        if let ttl { Self.write(.signed(memcacheExpiry(ttl)), into: &buffer) }
        for key in wire {
            buffer.writeSpace()
            buffer.writeBytes(key)
        }
        buffer.writeCRLF()
    }

    private func line(
        _ command: String, key: MemcacheKey, numbers: [Number], noreply: Bool, into buffer: inout ByteBuffer
    ) throws {
        let wire = try Self.textKey(key)
        buffer.writeString(command)
        buffer.writeSpace()
        buffer.writeBytes(wire)
        for number in numbers { Self.write(number, into: &buffer) }
        Self.finish(noreply: noreply, into: &buffer)
    }

    private func store(_ store: MemcacheStore, into buffer: inout ByteBuffer) throws {
        let wire = try Self.textKey(store.key)
        let command: String
        switch store.mode {
        case .set: command = "set"
        case .add: command = "add"
        case .replace: command = "replace"
        case .append: command = "append"
        case .prepend: command = "prepend"
        case .cas: command = "cas"
        }
        buffer.reserveCapacity(minimumWritableBytes: wire.count + store.value.readableBytes + 64)
        buffer.writeString(command)
        buffer.writeSpace()
        buffer.writeBytes(wire)
        Self.write(.unsigned(UInt64(store.flags)), into: &buffer)
        Self.write(.signed(memcacheExpiry(store.ttl)), into: &buffer)
        Self.write(.unsigned(UInt64(store.value.readableBytes)), into: &buffer)
        if case .cas(let unique) = store.mode { Self.write(.unsigned(unique), into: &buffer) }
        Self.finish(noreply: store.noreply, into: &buffer)
        buffer.writeImmutableBuffer(store.value)
        buffer.writeCRLF()
    }

    /// Writes `mg <key> v`, the request of `get`, straight from its key: what encoding
    /// `.meta(.get(key, flags: [.returnValue]))` writes, with no request made (building one
    /// retained and released the key, the flags and the enum's copy: three each per get).
    package static func writeValueGet(_ key: MemcacheKey, into buffer: inout ByteBuffer) {
        guard !key.isBinary else {
            buffer.writeInteger(UInt8(ascii: "m"))
            buffer.writeInteger(UInt8(ascii: "g"))
            Self.writeKey(key, into: &buffer)
            buffer.writeString(" b v\r\n") // `b`: the key is base64; `v`: `MemcacheMetaFlag.returnValue`
            return
        }
        // One reservation and one uniqueness check for the whole line: written piece by
        // piece, each of its six writes checked the storage again (about 1 % of a pooled
        // get's CPU, `perf record`).
        _ = key.bytes.withUnsafeBytes { keyBytes in
            buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: keyBytes.count + 7) { line in
                line[0] = UInt8(ascii: "m")
                line[1] = UInt8(ascii: "g")
                line[2] = UInt8(ascii: " ")
                // SAFETY: `line` has `keyBytes.count + 7` writable bytes (reserved above): the key fits at 3.
                UnsafeMutableRawBufferPointer(rebasing: line[3..<(3 + keyBytes.count)]).copyMemory(from: keyBytes)
                let end = 3 + keyBytes.count
                line[end] = UInt8(ascii: " ")
                line[end + 1] = UInt8(ascii: "v") // `MemcacheMetaFlag.returnValue`
                line[end + 2] = UInt8(ascii: "\r")
                line[end + 3] = UInt8(ascii: "\n")
                return end + 4
            }
        }
    }

    /// A meta command's key, after a space: base64 for a binary key (whose command then
    /// carries the `b` flag).
    private static func writeKey(_ key: MemcacheKey, into buffer: inout ByteBuffer) {
        buffer.writeSpace()
        if key.isBinary { buffer.writeBytes(Base64.encode(key.bytes)) } else { buffer.writeBytes(key.bytes) }
    }

    private func meta(_ meta: MemcacheMetaRequest, forceQuiet: Bool, into buffer: inout ByteBuffer) throws {
        // Byte by byte, and the key's and flags' bytes read in place: a get is written with
        // no reference counted (the command's text, the key's wire form and each flag's
        // copy were a retain and a release each).
        buffer.writeInteger(UInt8(ascii: "m"))
        buffer.writeInteger(meta.command.secondLetter)
        if meta.command != .noop {
            guard let key = meta.key else {
                throw MemcacheError(.invalidArgument, "\(meta.command.rawValue) needs a key")
            }
            Self.writeKey(key, into: &buffer)
            if meta.command == .set {
                Self.write(.unsigned(UInt64(meta.value?.readableBytes ?? 0)), into: &buffer)
            }
            if key.isBinary, !meta.flags.contains(MemcacheMetaFlag("b")) {
                buffer.writeString(" b")
            }
        }
        for index in meta.flags.indices {
            buffer.writeSpace()
            buffer.writeInteger(meta.flags[index].letter)
            if !meta.flags[index].token.isEmpty { buffer.writeBytes(meta.flags[index].token) }
        }
        if forceQuiet, meta.command != .noop, !meta.isQuiet {
            buffer.writeString(" q")
        }
        buffer.writeCRLF()
        if meta.command == .set {
            if let value = meta.value { buffer.writeImmutableBuffer(value) }
            buffer.writeCRLF()
        }
    }
}
