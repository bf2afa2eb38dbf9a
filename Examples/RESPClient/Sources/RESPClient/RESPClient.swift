public import Channels
import Codecs
public import Pool

/// A Redis (RESP2) client over a pool of pipelined connections.
///
/// Thread-safe. Any number of tasks may call at once: each call leases a connection on the
/// caller's loop (or the next one), sends its command with every other command of that loop
/// turn in one write, and is resumed with its own reply. From a task that prefers one of the
/// group's loops there is no thread hop at all.
///
/// ```swift
/// let client = RESPClient(host: "127.0.0.1", port: 6379, group: group)
/// try await client.set("greeting", to: ByteBuffer(string: "hello"))
/// let value = try await client.get("greeting")   // ByteBuffer("hello"), nil when missing
/// await client.shutdown()
/// ```
public final class RESPClient: Sendable {
    /// How the client connects and pools.
    public struct Configuration: Sendable {
        /// The pool: connections (default 2 per loop), 64 callers per connection at once.
        public var pool: ConnectionPoolConfiguration
        /// How long the server may stay silent while commands wait (default 10 s).
        public var responseTimeout: TimeAmount? = .seconds(10)
        /// The largest bulk string accepted in a reply (default 64 MiB).
        public var maximumBulkLength = 64 << 20

        public init(maxConnections: Int = 4) {
            self.pool = ConnectionPoolConfiguration(maxConnections: maxConnections)
            self.pool.maxConcurrentLeasesPerConnection = 64
            self.pool.name = "redis"
        }
    }

    public let connections: ConnectionPool<RESPConnection>

    public init(host: String, port: Int, group: EventLoopGroup, configuration: Configuration = Configuration()) {
        self.connections = ConnectionPool(group: group, configuration: configuration.pool) { loop in
            RESPConnection.connect(host: host, port: port, on: loop, configuration: configuration)
        }
    }

    /// Sends `command` and returns its reply.
    ///
    /// - Throws: `RESPError`: `.serverError` with the server's words for an error reply (the
    ///   connection stays good); `.protocolViolation`, `.timeout` or `.connectionFailed` (with
    ///   the cause) when the connection failed or none could be had.
    public func send(_ command: RESPCommand) async throws -> RESPValue {
        let reply: RESPValue
        do {
            reply = try await self.connections.withConnectionOnLoop { connection, done in
                connection.handler.send(command, completion: done)
            }
        } catch {
            throw Self.clientError(error)
        }
        if case .error(let message) = reply { throw RESPError(.serverError, String(buffer: message)) }
        return reply
    }

    /// `GET key`: the value, or nil when the key does not exist.
    public func get(_ key: String) async throws -> ByteBuffer? {
        switch try await self.send(RESPCommand([.text("GET"), .text(key)])) {
        case .bulkString(let value): return value
        case let other: throw RESPError(.unexpectedReply, "GET answered \(other)")
        }
    }

    /// `SET key value`.
    public func set(_ key: String, to value: ByteBuffer) async throws {
        let reply = try await self.send(RESPCommand([.text("SET"), .text(key), .bytes(value)]))
        guard case .simpleString = reply else { throw RESPError(.unexpectedReply, "SET answered \(reply)") }
    }

    /// `INCRBY key by`: the new value.
    public func increment(_ key: String, by amount: Int64 = 1) async throws -> Int64 {
        switch try await self.send(["INCRBY", key, String(amount)]) {
        case .integer(let value): return value
        case let other: throw RESPError(.unexpectedReply, "INCRBY answered \(other)")
        }
    }

    /// `DEL key...`: how many keys were removed.
    public func delete(_ keys: String...) async throws -> Int64 {
        switch try await self.send(RESPCommand(["DEL"] + keys)) {
        case .integer(let value): return value
        case let other: throw RESPError(.unexpectedReply, "DEL answered \(other)")
        }
    }

    /// Stops leasing, lets the commands in flight finish, closes the connections.
    public func shutdown() async {
        await self.connections.shutdown()
    }

    private static func clientError(_ error: any Error) -> RESPError {
        switch error {
        case let error as RESPError:
            return error
        case let error as RequestResponseError where error.code == .responseTimeout:
            return RESPError(.timeout, "no reply in time", cause: error)
        case let error as RequestResponseError where error.code == .unexpectedResponse:
            if let cause = error.cause as? RESPError { return cause }
            return RESPError(.protocolViolation, "the server's reply cannot be read", cause: error)
        default:
            return RESPError(.connectionFailed, "the command could not be sent or answered", cause: error)
        }
    }
}
