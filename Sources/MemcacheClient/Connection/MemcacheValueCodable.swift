public import Channels
import Codecs
import FoundationEssentials

/// A type stored in memcache as bytes, with client flags that record its format so that a
/// reader can tell what it got.
///
/// Conformances: `ByteBuffer` (flags 0, no copy), `String` (UTF-8), the fixed-width integers
/// (decimal text, as `incr`/`decr` keep them; flags 0 is read too), and `MemcacheJSON` for
/// any `Codable` type. A reader asking for a type whose format does not match the flags, or
/// whose bytes do not decode, gets `MemcacheError.typeMismatch`.
///
/// ```swift
/// struct Profile: Codable { var name: String }
/// try await cache.set("profile:7", value: MemcacheJSON(Profile(name: "Ada")))
/// let profile = try await cache.get("profile:7", as: MemcacheJSON<Profile>.self)?.value
/// ```
public protocol MemcacheValueCodable: Sendable {
    /// The client flags a stored value of this type carries.
    static var memcacheFlags: UInt32 { get }
    /// Whether a value stored with `flags` is in this type's format.
    static func decodes(flags: UInt32) -> Bool
    /// The bytes to store.
    func memcacheBytes() throws -> ByteBuffer
    /// The value of stored bytes. - Throws: any error; the caller reports it as `.typeMismatch`.
    init(memcacheBytes: ByteBuffer) throws
}

extension MemcacheValueCodable {
    public static func decodes(flags: UInt32) -> Bool { flags == Self.memcacheFlags }
}

/// The client flags of the formats this library writes: "MC" in the top 16 bits, the format
/// below, so that they do not collide with the small flags other clients use.
enum MemcacheValueFormat {
    static let text: UInt32 = 0x4D43_0001
    static let integer: UInt32 = 0x4D43_0002
    static let json: UInt32 = 0x4D43_0003
}

extension ByteBuffer: MemcacheValueCodable {
    public static var memcacheFlags: UInt32 { 0 }
    /// Bytes are bytes: whatever the flags.
    public static func decodes(flags: UInt32) -> Bool { true }
    public func memcacheBytes() -> ByteBuffer { self }
    public init(memcacheBytes: ByteBuffer) { self = memcacheBytes }
}

extension String: MemcacheValueCodable {
    public static var memcacheFlags: UInt32 { MemcacheValueFormat.text }
    public func memcacheBytes() -> ByteBuffer { ByteBuffer(string: self) }
    public init(memcacheBytes: ByteBuffer) throws {
        guard let text = memcacheBytes.getString(at: memcacheBytes.readerIndex, length: memcacheBytes.readableBytes),
            text.utf8.elementsEqual(memcacheBytes.readableBytesView)
        else { throw MemcacheError(.typeMismatch, "the value is not UTF-8 text") }
        self = text
    }
}

/// Integers as decimal text: what `incr` and `decr` read and write.
public protocol MemcacheDecimalInteger: MemcacheValueCodable, FixedWidthInteger {}

extension MemcacheDecimalInteger {
    public static var memcacheFlags: UInt32 { MemcacheValueFormat.integer }
    /// A counter made by `incr`, or set by another client, has flags 0.
    public static func decodes(flags: UInt32) -> Bool { flags == MemcacheValueFormat.integer || flags == 0 }
    public func memcacheBytes() -> ByteBuffer { ByteBuffer(string: String(self)) }
    public init(memcacheBytes: ByteBuffer) throws {
        // incr pads a shorter result with spaces on the right (memcached keeps the length).
        guard let text = memcacheBytes.getString(at: memcacheBytes.readerIndex, length: memcacheBytes.readableBytes),
            let value = Self(text.trimmingSpaces)
        else { throw MemcacheError(.typeMismatch, "the value is not a decimal \(Self.self)") }
        self = value
    }
}

extension Int: MemcacheDecimalInteger {}
extension Int64: MemcacheDecimalInteger {}
extension Int32: MemcacheDecimalInteger {}
extension UInt: MemcacheDecimalInteger {}
extension UInt64: MemcacheDecimalInteger {}
extension UInt32: MemcacheDecimalInteger {}

extension String {
    fileprivate var trimmingSpaces: Substring {
        var text = self[...]
        while text.last == " " { text = text.dropLast() }
        while text.first == " " { text = text.dropFirst() }
        return text
    }
}

/// Any `Codable` value, stored as JSON.
///
/// ```swift
/// try await cache.set("point", value: MemcacheJSON(Point(x: 1, y: 2)), ttl: 60)
/// let point = try await cache.get("point", as: MemcacheJSON<Point>.self)?.value
/// ```
public struct MemcacheJSON<Value: Codable & Sendable>: MemcacheValueCodable {
    public var value: Value

    public init(_ value: Value) {
        self.value = value
    }

    public static var memcacheFlags: UInt32 { MemcacheValueFormat.json }

    public func memcacheBytes() throws -> ByteBuffer {
        let data = try JSONEncoder().encode(self.value)
        return data.withUnsafeBytes { ByteBuffer(bytes: $0) }
    }

    public init(memcacheBytes: ByteBuffer) throws {
        let data = Data(memcacheBytes.readableBytesView)
        self.value = try JSONDecoder().decode(Value.self, from: data)
    }
}

extension MemcacheRequestSender {
    /// Stores a typed value with its format's client flags.
    public func set<Value: MemcacheValueCodable>(_ key: MemcacheKey, value: Value, ttl: Int = 0) async throws {
        let bytes: ByteBuffer
        do {
            bytes = try value.memcacheBytes()
        } catch {
            throw MemcacheError(.invalidArgument, "the \(Value.self) value cannot be encoded", cause: error)
        }
        try await self.set(key, to: bytes, flags: Value.memcacheFlags, ttl: ttl)
    }

    /// The value of `key` as `type`, or nil on a miss.
    /// - Throws: `MemcacheError.typeMismatch` when the stored value's flags are not `type`'s
    ///   format, or its bytes do not decode as `type`.
    public func get<Value: MemcacheValueCodable>(_ key: MemcacheKey, as type: Value.Type) async throws -> Value? {
        guard let item = try await self.getItem(key) else { return nil }
        guard Value.decodes(flags: item.flags) else {
            throw MemcacheError(
                .typeMismatch, "\(key) holds a value with client flags \(item.flags), not \(Value.self)")
        }
        do {
            return try Value(memcacheBytes: item.value)
        } catch let error as MemcacheError {
            throw error
        } catch {
            throw MemcacheError(.typeMismatch, "\(key) does not decode as \(Value.self)", cause: error)
        }
    }
}
