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
/// Thread-safe (a value).
///
/// ```swift
/// let command: RESPCommand = ["SET", "greeting", "hello"]
/// ```
public struct RESPCommand: Sendable, ExpressibleByArrayLiteral {
    public var arguments: [ByteBuffer]

    public init(_ arguments: [ByteBuffer]) {
        self.arguments = arguments
    }

    public init(_ arguments: [String]) {
        self.arguments = arguments.map { ByteBuffer(string: $0) }
    }

    public init(arrayLiteral elements: String...) {
        self.init(elements)
    }
}
