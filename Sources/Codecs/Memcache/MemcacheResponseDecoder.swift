public import Channels

/// Reads a server's replies, text and meta protocol, incrementally: bytes may arrive split
/// anywhere. Values are slices of the input (no copy, never through String).
///
/// Thread-safe (a value); use each instance on one stream. Replies are recognised by their
/// first word, so the decoder needs no knowledge of the requests. Bounded: a line longer
/// than `maximumLineLength` or a value longer than `maximumValueLength` is a
/// `MemcacheError` (`protocolViolation` / `valueTooLarge`) and the stream is abandoned; so is
/// anything that is not a memcache reply (a bad length, a missing `\r\n`, a value longer
/// than announced, garbage). Error replies (`ERROR`, `CLIENT_ERROR`, `SERVER_ERROR`) are
/// not stream errors: they are returned as `.error` for the one request they answer.
public struct MemcacheResponseDecoder: ByteToMessageDecoder {
    public let maximumLineLength: Int
    public let maximumValueLength: Int

    private enum Collecting { case nothing, values, stats }
    private var collecting = Collecting.nothing
    private var items: [MemcacheItem] = []
    private var stats: [MemcacheStat] = []

    /// - Parameters:
    ///   - maximumLineLength: the longest reply line (default 8 KiB; keys are at most 250 bytes).
    ///   - maximumValueLength: the largest value accepted (default 64 MiB; memcached's own
    ///     item limit is 1 MiB unless raised with `-I`).
    public init(maximumLineLength: Int = 8192, maximumValueLength: Int = 64 << 20) {
        self.maximumLineLength = maximumLineLength
        self.maximumValueLength = maximumValueLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> MemcacheResponse? {
        while true {
            guard let newline = MemcacheParsing.lineEnd(in: buffer, limit: self.maximumLineLength + 2) else {
                if buffer.readableBytes > self.maximumLineLength + 1 {
                    throw MemcacheError(.protocolViolation, "no line end within \(self.maximumLineLength) bytes")
                }
                return nil
            }
            let start = buffer.readerIndex
            guard newline > start, buffer.getByte(at: newline - 1) == UInt8(ascii: "\r") else {
                throw MemcacheError(.protocolViolation, "a reply line must end with \\r\\n")
            }
            if self.collecting == .nothing {
                switch try self.metaReply(in: &buffer, lineEnd: newline) {
                case .reply(let response): return response
                case .incomplete: return nil
                case .notMeta: break
                }
            }
            let line = buffer.getSlice(at: start, length: newline - 1 - start) ?? ByteBuffer()
            let afterLine = newline + 1
            var cursor = TokenCursor(line)
            guard let first = cursor.next() else {
                throw MemcacheError(.protocolViolation, "an empty reply line")
            }
            let word = Word(first)
            // Meta replies, the hot path, are read in place: no token array, no flag array.
            if case .meta(let status) = word, self.collecting == .nothing {
                buffer.moveReaderIndex(to: afterLine)
                return .meta(MemcacheMetaResponse(status: status, flagBytes: cursor.rest(of: line), value: nil))
            }
            if word == .metaValue {
                guard self.collecting == .nothing else {
                    throw self.violation("meta reply inside a multi-line reply", line)
                }
                guard let sizeToken = cursor.next(), let length = MemcacheSyntax.unsigned(sizeToken) else {
                    throw self.violation("malformed VA line", line)
                }
                guard let value = try self.dataBlock(length: length, buffer: &buffer, after: afterLine) else {
                    return nil
                }
                return .meta(MemcacheMetaResponse(status: .value, flagBytes: cursor.rest(of: line), value: value))
            }
            switch word {
            case .value:
                guard self.collecting != .stats else { throw self.violation("VALUE among STAT lines", line) }
                guard let item = try self.item(&cursor, line: line, buffer: &buffer, after: afterLine) else {
                    return nil
                }
                self.items.append(item)
                self.collecting = .values
                continue
            case .stat:
                let tokens = MemcacheParsing.tokens(line)
                guard self.collecting != .values, tokens.count >= 2 else {
                    throw self.violation("malformed STAT line", line)
                }
                buffer.moveReaderIndex(to: afterLine)
                let value = tokens.count > 2 ? tokens[2...].map(MemcacheParsing.text).joined(separator: " ") : ""
                self.stats.append(MemcacheStat(name: MemcacheParsing.text(tokens[1]), value: value))
                self.collecting = .stats
                continue
            case .end:
                buffer.moveReaderIndex(to: afterLine)
                return self.finishCollection()
            default:
                break
            }
            if self.collecting != .nothing, !word.isError {
                throw self.violation("expected VALUE, STAT or END", line)
            }
            buffer.moveReaderIndex(to: afterLine)
            self.collecting = .nothing
            self.items = []
            self.stats = []
            return try self.singleLine(word, line: line)
        }
    }

    private mutating func finishCollection() -> MemcacheResponse {
        defer {
            self.collecting = .nothing
            self.items = []
            self.stats = []
        }
        switch self.collecting {
        case .nothing: return .end
        case .values: return .values(self.items)
        case .stats: return .stats(self.stats)
        }
    }

    private enum MetaStep {
        case reply(MemcacheResponse)
        /// A `VA` line whose data block has not all arrived.
        case incomplete
        /// Not a meta reply: the general path reads it.
        case notMeta
    }

    /// The hot path: a meta reply (`HD`, `VA <size>`, `EN`, …) read in place from the line's
    /// bytes, its status compared as two bytes, its size parsed without a token array.
    /// `lineEnd` is the position of the line's `\n` (after a checked `\r`).
    private func metaReply(in buffer: inout ByteBuffer, lineEnd: Int) throws -> MetaStep {
        let start = buffer.readerIndex
        let textLength = lineEnd - 1 - start // without \r\n
        guard textLength >= 2 else { return .notMeta }
        let head = buffer.withUnsafeReadableBytes {
            bytes -> (status: MemcacheMetaResponse.Status?, size: UInt64?, flagsAt: Int) in
            guard let status = MemcacheMetaResponse.Status(first: bytes[0], second: bytes[1]),
                textLength == 2 || bytes[2] == UInt8(ascii: " ")
            else { return (nil, nil, 0) }
            var position = 2
            while position < textLength, bytes[position] == UInt8(ascii: " ") { position += 1 }
            guard status == .value else { return (status, nil, position) }
            // VA <size>: digits up to the next space or the line's end.
            var size: UInt64 = 0
            var digits = 0
            while position < textLength, bytes[position] != UInt8(ascii: " ") {
                let digit = bytes[position] &- UInt8(ascii: "0")
                guard digit < 10, digits < 19 else { return (status, nil, position) }
                size = size * 10 + UInt64(digit)
                digits += 1
                position += 1
            }
            while position < textLength, bytes[position] == UInt8(ascii: " ") { position += 1 }
            return (status, digits > 0 ? size : nil, position)
        }
        guard let status = head.status else { return .notMeta }
        // No flags (a plain `VA <size>`, `HD`, `EN`): nil, not an empty slice (which retained
        // the read buffer's storage once more per reply) nor the shared empty buffer (a
        // retain and a release still, if of an immortal object).
        let flagBytes =
            head.flagsAt >= textLength
            ? nil : buffer.getSlice(at: start + head.flagsAt, length: textLength - head.flagsAt)
        guard status == .value else {
            buffer.moveReaderIndex(to: lineEnd + 1)
            return .reply(.meta(MemcacheMetaResponse(status: status, flagBytes: flagBytes, value: nil)))
        }
        guard let size = head.size else {
            throw self.violation("malformed VA line", buffer.getSlice(at: start, length: textLength) ?? ByteBuffer())
        }
        guard let value = try self.dataBlock(length: size, buffer: &buffer, after: lineEnd + 1) else {
            return .incomplete
        }
        return .reply(.meta(MemcacheMetaResponse(status: .value, flagBytes: flagBytes, value: value)))
    }

    /// `VALUE <key> <flags> <bytes> [<cas>]` and its data block; nil until all has arrived.
    /// Read in place with the line's cursor (positioned after the word).
    private func item(_ cursor: inout TokenCursor, line: ByteBuffer, buffer: inout ByteBuffer, after: Int) throws
        -> MemcacheItem?
    {
        guard let key = cursor.next(), let flagsToken = cursor.next(), let lengthToken = cursor.next(),
            let flags = MemcacheSyntax.unsigned(flagsToken), flags <= UInt64(UInt32.max),
            let length = MemcacheSyntax.unsigned(lengthToken)
        else { throw self.violation("malformed VALUE line", line) }
        var cas: UInt64?
        if let casToken = cursor.next() {
            guard let parsed = MemcacheSyntax.unsigned(casToken), cursor.next() == nil else {
                throw self.violation("malformed CAS in VALUE line", line)
            }
            cas = parsed
        }
        guard let value = try self.dataBlock(length: length, buffer: &buffer, after: after) else { return nil }
        return MemcacheItem(key: Array(key), flags: UInt32(flags), cas: cas, value: value)
    }

    /// The `length` bytes after the line plus their `\r\n`: consumed and returned as a slice,
    /// or nil (nothing consumed) until they have all arrived.
    private func dataBlock(length: UInt64, buffer: inout ByteBuffer, after: Int) throws -> ByteBuffer? {
        guard length <= UInt64(self.maximumValueLength) else {
            throw MemcacheError(
                .valueTooLarge, "a \(length)-byte value exceeds the maximum of \(self.maximumValueLength)")
        }
        let size = Int(length)
        guard buffer.writerIndex - after >= size + 2 else { return nil }
        guard buffer.getByte(at: after + size) == UInt8(ascii: "\r"),
            buffer.getByte(at: after + size + 1) == UInt8(ascii: "\n")
        else {
            throw MemcacheError(.protocolViolation, "a data block is longer than the \(size) bytes announced")
        }
        let value = buffer.getSlice(at: after, length: size)
        buffer.moveReaderIndex(to: after + size + 2)
        return value
    }

    private func singleLine(_ word: Word, line: ByteBuffer) throws -> MemcacheResponse {
        func rest() -> String {
            let text = line.getString(at: line.readerIndex, length: line.readableBytes) ?? ""
            return text.split(separator: " ", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
        }
        switch word {
        case .stored: return .stored
        case .notStored: return .notStored
        case .exists: return .exists
        case .notFound: return .notFound
        case .deleted: return .deleted
        case .touched: return .touched
        case .ok: return .ok
        case .version: return .version(rest())
        case .error:
            let message = rest()
            return .error(
                MemcacheError(.unknownCommand, message.isEmpty ? "the server does not know the command" : message))
        case .clientError:
            let message = rest()
            // memcached's ASCII authentication (`-Y`) answers with these two, and only these.
            let code: MemcacheError.Code =
                MemcacheCredentials.refusals.contains(message) ? .authenticationFailed : .clientError
            return .error(MemcacheError(code, message))
        case .serverError: return .error(MemcacheError(.serverError, rest()))
        case .meta:
            throw self.violation("meta reply inside a multi-line reply", line)
        case .number:
            let tokens = MemcacheParsing.tokens(line)
            guard tokens.count == 1, let value = MemcacheSyntax.unsigned(tokens[0]) else {
                throw self.violation("malformed number", line)
            }
            return .number(value)
        case .value, .stat, .end, .metaValue, .unknown:
            throw self.violation("unknown reply", line)
        }
    }

    private func violation(_ what: String, _ line: ByteBuffer) -> MemcacheError {
        MemcacheError(.protocolViolation, "\(what): \(line)")
    }

    /// The first word of a reply line.
    private enum Word: Equatable {
        case value, stat, end, stored, notStored, exists, notFound, deleted, touched, ok, version
        case error, clientError, serverError, number, metaValue
        case meta(MemcacheMetaResponse.Status)
        case unknown

        /// The reply words, compared as bytes (no String is built).
        private static let words: [(bytes: [UInt8], word: Word)] =
            ([
                ("VALUE", .value), ("STAT", .stat), ("END", .end), ("STORED", .stored), ("NOT_STORED", .notStored),
                ("EXISTS", .exists), ("NOT_FOUND", .notFound), ("DELETED", .deleted), ("TOUCHED", .touched),
                ("OK", .ok),
                ("VERSION", .version), ("ERROR", .error), ("CLIENT_ERROR", .clientError),
                ("SERVER_ERROR", .serverError),
                ("VA", .metaValue),
            ] as [(String, Word)]).map { (Array($0.0.utf8), $0.1) }

        init<Bytes: Collection<UInt8>>(_ token: Bytes) {
            if let known = Self.words.first(where: { $0.bytes.elementsEqual(token) }) {
                self = known.word
            } else if token.count == 2,
                let status = MemcacheMetaResponse.Status(first: token.first ?? 0, second: token.dropFirst().first ?? 0),
                status != .value
            {
                self = .meta(status)
            } else if MemcacheSyntax.unsigned(token) != nil {
                self = .number
            } else {
                self = .unknown
            }
        }

        var isError: Bool { self == .error || self == .clientError || self == .serverError }
    }
}
