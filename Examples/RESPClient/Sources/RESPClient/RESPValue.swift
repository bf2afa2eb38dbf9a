public import Channels

/// A RESP2 value: what a Redis (or Valkey) server replies.
///
/// Thread-safe (a value). Bulk strings stay bytes (`ByteBuffer`): a value is never forced
/// through `String`.
///
/// ```swift
/// if case .bulkString(let value?) = try await client.send(["GET", "greeting"]) { print(String(buffer: value)) }
/// ```
public enum RESPValue: Sendable, Hashable {
    /// `+OK`
    case simpleString(ByteBuffer)
    /// `-ERR message`: the client turns it into `RESPError` with code `serverError`.
    case error(ByteBuffer)
    /// `:42`
    case integer(Int64)
    /// `$5 hello`; nil for the null bulk string (`$-1`), a missing key.
    case bulkString(ByteBuffer?)
    /// `*2 ...`; nil for the null array (`*-1`).
    case array([RESPValue]?)
}

/// A command: its name and arguments, each sent as a bulk string.
///
/// Thread-safe (a value). Text is kept as the `String` it is and written straight into the
/// request buffer: a `GET` builds one array and nothing else (as a `ByteBuffer` per argument
/// it allocated four times per command).
///
/// ```swift
/// let command: RESPCommand = ["SET", "greeting", "hello"]
/// let binary = RESPCommand([.text("SET"), .text("greeting"), .bytes(ByteBuffer(bytes: [0, 1, 2]))])
/// ```
public struct RESPCommand: Sendable, ExpressibleByArrayLiteral {
    /// One argument: text (sent as its UTF-8) or bytes.
    public enum Argument: Sendable, Hashable {
        case text(String)
        case bytes(ByteBuffer)
    }

    public var arguments: [Argument]

    public init(_ arguments: [Argument]) {
        self.arguments = arguments
    }

    public init(_ arguments: [String]) {
        self.arguments = arguments.map { .text($0) }
    }

    public init(arrayLiteral elements: String...) {
        self.init(elements)
    }
}
