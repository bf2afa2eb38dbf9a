public import Channels

/// What a server reads: a request, or a line it must answer with an error and go on.
public enum MemcacheServerInput: Sendable, Equatable {
    case request(MemcacheRequest)
    /// A bad command the server answers with this error (`ERROR`, `CLIENT_ERROR …`,
    /// `SERVER_ERROR …`); the connection goes on.
    case invalid(MemcacheError)
}

/// Reads client requests on the server side: the text and meta protocols, incrementally.
///
/// Thread-safe (a value); one instance per connection. Like memcached: an unknown command
/// is answered with `ERROR`, a malformed line or key with `CLIENT_ERROR`, and a value over
/// `maximumValueLength` is read and dropped, then answered with
/// `SERVER_ERROR object too large for cache`; the connection goes on in each case. A line
/// longer than `maximumLineLength`, or a data block not closed by `\r\n`, cannot be
/// resynchronised: that is a thrown `MemcacheError.protocolViolation` (the connection closes).
public struct MemcacheRequestDecoder: ByteToMessageDecoder {
    public var maximumLineLength: Int { Int(self.lineLimit) }
    public var maximumValueLength: Int { Int(self.valueLimit) }
    // 32 bits each (a longer line or value is absurd, see `absurdValueLength`): every server
    // connection holds a decoder, and 8 bytes fewer kept its handler in a smaller malloc size.
    private let lineLimit: UInt32
    private let valueLimit: UInt32
    /// Bytes of an oversized value still to be dropped.
    private var discarding = 0

    /// Whether the decoder is dropping an oversized value: the bytes that follow belong to
    /// it, not to a new request (a server's own fast path must not read them).
    public var isDroppingValue: Bool { self.discarding > 0 }

    /// The largest value length believed at all; beyond it the peer is not a memcache client.
    static let absurdValueLength: UInt64 = 1 << 32

    public init(maximumLineLength: Int = 4096, maximumValueLength: Int = 1 << 20) {
        self.lineLimit = UInt32(clamping: maximumLineLength)
        self.valueLimit = UInt32(clamping: maximumValueLength)
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> MemcacheServerInput? {
        if self.discarding > 0 {
            let dropped = min(self.discarding, buffer.readableBytes)
            buffer.moveReaderIndex(forwardBy: dropped)
            self.discarding -= dropped
            guard self.discarding == 0 else { return nil }
            return .invalid(MemcacheError(.serverError, "object too large for cache"))
        }
        guard let newline = MemcacheParsing.lineEnd(in: buffer, limit: self.maximumLineLength + 2) else {
            if buffer.readableBytes > self.maximumLineLength + 1 {
                throw MemcacheError(.protocolViolation, "no line end within \(self.maximumLineLength) bytes")
            }
            return nil
        }
        let start = buffer.readerIndex
        // Like memcached, accept a bare "\n" as well as "\r\n" after a command.
        let lineLength =
            newline - start - (newline > start && buffer.getByte(at: newline - 1) == UInt8(ascii: "\r") ? 1 : 0)
        let line = buffer.getSlice(at: start, length: lineLength) ?? ByteBuffer()
        let tokens = MemcacheParsing.tokens(line)
        let afterLine = newline + 1
        guard let command = tokens.first.map(MemcacheParsing.text) else {
            buffer.moveReaderIndex(to: afterLine)
            return .invalid(MemcacheError(.unknownCommand, ""))
        }
        switch command {
        case "set", "add", "replace", "append", "prepend", "cas":
            return try self.storage(command, tokens, buffer: &buffer, after: afterLine)
        case "ms":
            return try self.metaSet(tokens, buffer: &buffer, after: afterLine)
        default:
            buffer.moveReaderIndex(to: afterLine)
            do {
                guard let request = try Self.simple(command, tokens) else {
                    return .invalid(MemcacheError(.unknownCommand, ""))
                }
                return .request(request)
            } catch let error as MemcacheError {
                return .invalid(error)
            }
        }
    }

    // MARK: Commands without a data block

    private static func simple(_ command: String, _ tokens: [ArraySlice<UInt8>]) throws -> MemcacheRequest? {
        let arguments = tokens.dropFirst()
        switch command {
        case "get", "gets":
            guard !arguments.isEmpty else { throw Self.badFormat }
            return .get(keys: try arguments.map(Self.key), withCAS: command == "gets")
        case "gat", "gats":
            guard arguments.count >= 2, let ttl = MemcacheSyntax.signed(arguments[arguments.startIndex]) else {
                throw Self.badFormat
            }
            return .getAndTouch(ttl: ttl, keys: try arguments.dropFirst().map(Self.key), withCAS: command == "gats")
        case "delete":
            // "delete <key> [0] [noreply]": a legacy zero time is accepted, nothing else.
            var rest = Array(arguments.dropFirst())
            let noreply = Self.takeNoreply(&rest)
            guard let key = arguments.first, rest.isEmpty || (rest.count == 1 && rest[0] == [UInt8(ascii: "0")]) else {
                throw MemcacheError(.clientError, "bad command line format.  Usage: delete <key> [noreply]")
            }
            return .delete(key: try Self.key(key), noreply: noreply)
        case "incr", "decr":
            var rest = Array(arguments)
            let noreply = Self.takeNoreply(&rest)
            guard rest.count == 2 else { throw Self.badFormat }
            guard let delta = MemcacheSyntax.unsigned(rest[1]) else {
                throw MemcacheError(.clientError, "invalid numeric delta argument")
            }
            return .arithmetic(key: try Self.key(rest[0]), delta: delta, increment: command == "incr", noreply: noreply)
        case "touch":
            var rest = Array(arguments)
            let noreply = Self.takeNoreply(&rest)
            guard rest.count == 2, let ttl = MemcacheSyntax.signed(rest[1]) else { throw Self.badFormat }
            return .touch(key: try Self.key(rest[0]), ttl: ttl, noreply: noreply)
        case "flush_all":
            var rest = Array(arguments)
            let noreply = Self.takeNoreply(&rest)
            guard rest.count <= 1 else { throw Self.badFormat }
            let delay = try rest.first.map { token -> Int in
                guard let value = MemcacheSyntax.signed(token) else { throw Self.badFormat }
                return value
            }
            return .flushAll(delay: delay, noreply: noreply)
        case "version":
            return .version
        case "verbosity":
            var rest = Array(arguments)
            let noreply = Self.takeNoreply(&rest)
            // As memcached: a lone "noreply" is read as the level, a level that is not a
            // number counts as 0, and any other shape is an unknown command.
            guard rest.count == 1 || (rest.isEmpty && noreply) else { return nil }
            return .verbosity(level: rest.first.flatMap { MemcacheSyntax.signed($0) } ?? 0, noreply: noreply)
        case "stats":
            return .stats(
                argument: arguments.isEmpty ? nil : arguments.map(MemcacheParsing.text).joined(separator: " "))
        case "quit":
            return .quit
        case "mg", "md", "ma", "me":
            guard let keyToken = arguments.first else { throw Self.badFormat }
            let flags = MemcacheParsing.metaFlags(arguments.dropFirst())
            let key = try Self.metaKey(keyToken, flags: flags)
            let kind: MemcacheMetaRequest.Command =
                command == "mg" ? .get : command == "md" ? .delete : command == "ma" ? .arithmetic : .debug
            return .meta(
                MemcacheMetaRequest(command: kind, key: key, flags: flags.filter { $0.letter != UInt8(ascii: "b") }))
        case "mn":
            return .meta(.noop)
        default:
            return nil
        }
    }

    // MARK: Commands with a data block

    private mutating func storage(
        _ command: String, _ tokens: [ArraySlice<UInt8>], buffer: inout ByteBuffer, after: Int
    ) throws -> MemcacheServerInput? {
        var rest = Array(tokens.dropFirst())
        let noreply = Self.takeNoreply(&rest)
        let expected = command == "cas" ? 5 : 4
        guard rest.count == expected,
            let flags = MemcacheSyntax.unsigned(rest[1]), flags <= UInt64(UInt32.max),
            let ttl = MemcacheSyntax.signed(rest[2]),
            let length = MemcacheSyntax.unsigned(rest[3])
        else {
            buffer.moveReaderIndex(to: after)
            return .invalid(Self.badFormat)
        }
        let casUnique = command == "cas" ? MemcacheSyntax.unsigned(rest[4]) : nil
        if command == "cas", casUnique == nil {
            buffer.moveReaderIndex(to: after)
            return .invalid(Self.badFormat)
        }
        guard let value = try self.dataBlock(length: length, buffer: &buffer, after: after) else {
            return try self.pendingOrOversized(buffer: &buffer)
        }
        let key: MemcacheKey
        do {
            key = try Self.key(rest[0])
        } catch let error as MemcacheError {
            return .invalid(error)
        }
        let mode: MemcacheStore.Mode
        switch command {
        case "add": mode = .add
        case "replace": mode = .replace
        case "append": mode = .append
        case "prepend": mode = .prepend
        case "cas": mode = .cas(casUnique ?? 0)
        default: mode = .set
        }
        return .request(
            .store(MemcacheStore(mode: mode, key: key, flags: UInt32(flags), ttl: ttl, value: value, noreply: noreply)))
    }

    private mutating func metaSet(_ tokens: [ArraySlice<UInt8>], buffer: inout ByteBuffer, after: Int) throws
        -> MemcacheServerInput?
    {
        guard tokens.count >= 3, let length = MemcacheSyntax.unsigned(tokens[2]) else {
            buffer.moveReaderIndex(to: after)
            return .invalid(Self.badFormat)
        }
        guard let value = try self.dataBlock(length: length, buffer: &buffer, after: after) else {
            return try self.pendingOrOversized(buffer: &buffer)
        }
        let flags = MemcacheParsing.metaFlags(tokens[3...])
        do {
            let key = try Self.metaKey(tokens[1], flags: flags)
            return .request(.meta(.set(key, value: value, flags: flags.filter { $0.letter != UInt8(ascii: "b") })))
        } catch let error as MemcacheError {
            return .invalid(error)
        }
    }

    /// After `dataBlock` returned nil: either more bytes are needed (nil), or an oversized
    /// value is being dropped, starting with what is already buffered.
    private mutating func pendingOrOversized(buffer: inout ByteBuffer) throws -> MemcacheServerInput? {
        self.discarding > 0 ? try self.decode(buffer: &buffer) : nil
    }

    /// The data block after a storage line. nil while incomplete (nothing consumed). An
    /// oversized value switches the decoder to dropping it.
    private mutating func dataBlock(length: UInt64, buffer: inout ByteBuffer, after: Int) throws -> ByteBuffer? {
        guard length <= Self.absurdValueLength else {
            throw MemcacheError(.protocolViolation, "a \(length)-byte value is not believable")
        }
        let size = Int(length)
        if size > self.maximumValueLength {
            buffer.moveReaderIndex(to: after)
            self.discarding = size + 2
            return nil
        }
        guard buffer.writerIndex - after >= size + 2 else { return nil }
        guard buffer.getByte(at: after + size) == UInt8(ascii: "\r"),
            buffer.getByte(at: after + size + 1) == UInt8(ascii: "\n")
        else {
            throw MemcacheError(
                .protocolViolation, "bad data chunk: the data block is longer than the \(size) bytes announced")
        }
        let value = buffer.getSlice(at: after, length: size)
        buffer.moveReaderIndex(to: after + size + 2)
        return value
    }

    // MARK: Helpers

    private static let badFormat = MemcacheError(.clientError, "bad command line format")

    private static func key(_ token: ArraySlice<UInt8>) throws -> MemcacheKey {
        do {
            return try MemcacheKey(textBytes: Array(token))
        } catch {
            throw Self.badFormat
        }
    }

    private static func metaKey(_ token: ArraySlice<UInt8>, flags: [MemcacheMetaFlag]) throws -> MemcacheKey {
        guard flags.contains(where: { $0.letter == UInt8(ascii: "b") }) else { return try Self.key(token) }
        guard let decoded = Base64.decode(Array(token)) else {
            throw MemcacheError(.clientError, "error decoding key")
        }
        do { return try MemcacheKey.binary(decoded) } catch { throw Self.badFormat }
    }

    private static func takeNoreply(_ tokens: inout [ArraySlice<UInt8>]) -> Bool {
        guard let last = tokens.last, last.elementsEqual("noreply".utf8) else { return false }
        tokens.removeLast()
        return true
    }
}
