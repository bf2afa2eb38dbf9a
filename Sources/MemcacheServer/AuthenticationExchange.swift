/// The server's half of memcached's ASCII authentication: what a connection's bytes mean
/// before it has authenticated, as memcached 1.6.18 reads them (`try_read_command_asciiauth`).
///
/// A pure value, one per connection: bytes in, a step out. A line must be
/// `set <key> <flags> <ttl> <bytes>…` (only `<bytes>` is read); any other line is answered
/// `CLIENT_ERROR unauthenticated`. Its value must end in `\r\n` and hold `<user> <password>`
/// (split on spaces, more tokens ignored): `STORED` when they match a user, else
/// `CLIENT_ERROR authentication failure`. Where memcached differs from itself across
/// versions, this follows the newer one: a value over 16 KiB is refused
/// (`CLIENT_ERROR auth token too long`) instead of read. Where memcached loses replies (it
/// answers only the last of several unauthenticated commands read at once), every command is
/// answered.
struct AuthenticationExchange {
    enum Step: Equatable {
        /// Nothing complete yet: read more.
        case needMore
        /// An authentication `set` line, `consumed` bytes; its value follows.
        case readLine(consumed: Int)
        /// Answer `line` (without its `\r\n`), having used `consumed` bytes.
        case reply(String, consumed: Int)
        /// The credentials matched: answer `STORED`; from here on the connection is served.
        case authenticated(consumed: Int)
        /// The credentials did not match: answer `CLIENT_ERROR authentication failure`.
        case refused(consumed: Int)
        /// Junk without a line end: close the connection, as memcached does.
        case close
    }

    /// Bytes still expected (the value and its `\r\n`) after an authentication `set` line.
    private(set) var pendingValueLength: Int?

    /// memcached closes a connection that sent this much without a line end.
    static let maximumLineLength = 2048
    /// The longest value read as credentials (newer memcached's `MAX_AUTH_REQ_LEN`).
    static let maximumValueLength = 16384

    /// The next step for what `bytes` (the unread input) holds.
    mutating func step(
        _ bytes: UnsafeRawBufferPointer, accepts: (ArraySlice<UInt8>, ArraySlice<UInt8>) -> Bool
    ) -> Step {
        if let expected = self.pendingValueLength {
            guard bytes.count >= expected else { return .needMore }
            self.pendingValueLength = nil
            return Self.credentials(Array(bytes[..<expected]), accepts: accepts)
        }
        guard bytes.count >= 2 else { return .needMore }
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            return bytes.count > Self.maximumLineLength ? .close : .needMore
        }
        let consumed = newline + 1
        // memcached tokenizes the line as a C string, with its `\r` still on the last token.
        var line = Array(bytes[..<newline])
        if let nul = line.firstIndex(of: 0) { line.removeSubrange(nul...) }
        let tokens = Self.tokens(line, limit: 23)
        guard tokens.count >= 5, tokens[0].elementsEqual("set".utf8), let size = Self.strtoul(tokens[4]) else {
            return .reply("CLIENT_ERROR unauthenticated", consumed: consumed)
        }
        guard size <= Self.maximumValueLength else {
            return .reply("CLIENT_ERROR auth token too long", consumed: consumed)
        }
        self.pendingValueLength = Int(size) + 2
        return .readLine(consumed: consumed)
    }

    private static func credentials(_ value: [UInt8], accepts: (ArraySlice<UInt8>, ArraySlice<UInt8>) -> Bool)
        -> Step
    {
        let consumed = value.count
        guard value.suffix(2).elementsEqual([UInt8(ascii: "\r"), UInt8(ascii: "\n")]) else {
            return .reply("CLIENT_ERROR bad command line termination", consumed: consumed)
        }
        // memcached reads the value as a C string: a NUL ends it.
        var text = value.dropLast(2)
        if let nul = text.firstIndex(of: 0) { text = text[..<nul] }
        let tokens = Self.tokens(Array(text), limit: 23)
        guard tokens.count >= 2 else {
            return .reply("CLIENT_ERROR bad authentication token format", consumed: consumed)
        }
        return accepts(tokens[0], tokens[1])
            ? .authenticated(consumed: consumed) : .refused(consumed: consumed)
    }

    /// memcached's `tokenize_command`: split on spaces (runs of them count once), at most
    /// `limit` tokens (what follows is dropped).
    static func tokens(_ bytes: [UInt8], limit: Int) -> [ArraySlice<UInt8>] {
        var tokens: [ArraySlice<UInt8>] = []
        var start = 0
        for index in bytes.indices where bytes[index] == UInt8(ascii: " ") {
            if index > start {
                tokens.append(bytes[start..<index])
                if tokens.count == limit { return tokens }
            }
            start = index + 1
        }
        if start < bytes.count { tokens.append(bytes[start...]) }
        return tokens
    }

    /// memcached's `safe_strtoul`: optional leading white space and sign, decimal digits,
    /// then the token's end or white space; a negative number is refused unless it is -0.
    static func strtoul(_ token: ArraySlice<UInt8>) -> UInt32? {
        var rest = token.drop { Self.isSpace($0) }
        var negative = false
        if let sign = rest.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            negative = sign == UInt8(ascii: "-")
            rest = rest.dropFirst()
        }
        let digits = rest.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard !digits.isEmpty else { return nil }
        var magnitude: UInt64 = 0
        for digit in digits {
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil } // ERANGE
            magnitude = sum
        }
        if let after = rest.dropFirst(digits.count).first, !Self.isSpace(after) { return nil }
        let value = negative ? 0 &- magnitude : magnitude
        if negative, Int64(bitPattern: value) < 0 { return nil }
        return UInt32(truncatingIfNeeded: value)
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || (byte >= 0x09 && byte <= 0x0D)
    }
}
