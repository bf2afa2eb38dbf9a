import Channels
import Glibc

/// One item as the embedded server keeps it.
///
/// Thread-safe (a value); lives inside a `StoreShard`, under that shard's lock. The key and
/// the value share one buffer of their own (never a slice of a read buffer, which would pin
/// it): a lookup that compares the key has then already brought in the value.
struct StoredItem {
    /// The key's bytes, then the value's.
    private var data: ByteBuffer
    private let keyLength: Int
    var flags: UInt32
    /// Absolute server time (Unix seconds) at which it dies; 0: never.
    var expiry: Int
    var cas: UInt64
    /// When it was stored, for `flush_all` with a delay.
    var storedAt: Int
    var lastAccess: Int
    /// Whether a get has read it since it was stored (meta `h`).
    var fetched = false
    /// Marked stale by a meta delete or set with `I`: still served, with `X`.
    var stale = false
    /// A client was handed the right to recache it (`W`); others see `Z` until it is stored.
    var recacheWon = false

    /// Copies `key` and `value` into the item's own buffer.
    init(
        key: [UInt8], value: ByteBuffer, flags: UInt32, expiry: Int, cas: UInt64, storedAt: Int, lastAccess: Int,
        stale: Bool = false, recacheWon: Bool = false
    ) {
        var data = ByteBuffer(capacity: key.count + value.readableBytes)
        data.writeBytes(key)
        data.writeImmutableBuffer(value)
        self.init(
            data: data, keyLength: key.count, flags: flags, expiry: expiry, cas: cas, storedAt: storedAt,
            lastAccess: lastAccess, stale: stale, recacheWon: recacheWon)
    }

    /// Copies `key` and `value`, still in a request's bytes, into the item's own buffer.
    init(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer, flags: UInt32, expiry: Int, cas: UInt64, now: Int)
    {
        var data = ByteBuffer(capacity: key.count + value.count)
        data.writeBytes(key)
        data.writeBytes(value)
        self.init(
            data: data, keyLength: key.count, flags: flags, expiry: expiry, cas: cas, storedAt: now, lastAccess: now)
    }

    private init(
        data: ByteBuffer, keyLength: Int, flags: UInt32, expiry: Int, cas: UInt64, storedAt: Int, lastAccess: Int,
        stale: Bool = false, recacheWon: Bool = false
    ) {
        self.data = data
        self.keyLength = keyLength
        self.flags = flags
        self.expiry = expiry
        self.cas = cas
        self.storedAt = storedAt
        self.lastAccess = lastAccess
        self.stale = stale
        self.recacheWon = recacheWon
    }

    /// The value: a slice of the item's buffer, no copy. Setting it copies the new bytes in.
    var value: ByteBuffer {
        get {
            self.data.getSlice(
                at: self.data.readerIndex + self.keyLength, length: self.data.readableBytes - self.keyLength)
                ?? ByteBuffer()
        }
        set {
            var data = ByteBuffer(capacity: self.keyLength + newValue.readableBytes)
            data.writeImmutableBuffer(
                self.data.getSlice(at: self.data.readerIndex, length: self.keyLength) ?? ByteBuffer())
            data.writeImmutableBuffer(newValue)
            self.data = data
        }
    }

    var valueLength: Int { self.data.readableBytes - self.keyLength }

    /// Whether the item's key is `key`.
    func hasKey(_ key: UnsafeRawBufferPointer) -> Bool {
        guard key.count == self.keyLength else { return false }
        return self.data.withUnsafeReadableBytes { stored in
            // SAFETY: both hold `keyLength` (= `key.count`) bytes or more, and memcmp reads
            // `key.count`; a base address is nil only for none.
            guard let storedBytes = stored.baseAddress, let keyBytes = key.baseAddress else { return key.count == 0 }
            return memcmp(storedBytes, keyBytes, key.count) == 0
        }
    }

    /// Bookkeeping charged per item beyond its key and value, close to memcached's item header.
    static let overhead = 56

    var size: Int { self.data.readableBytes + Self.overhead }

    /// Runs `body` on this item in place (reached through optional chaining, so that an item
    /// inside a shard's slot is neither copied nor moved).
    mutating func lend<Result>(to body: (inout StoredItem) -> Result) -> Result {
        body(&self)
    }

    /// Writes `VALUE <key> <flags> <bytes>[ <cas>]\r\n<value>\r\n`, copying the bytes
    /// straight from the item's buffer.
    func writeTextValue(into out: inout ByteBuffer, cas: UInt64?) {
        self.withKeyAndValueBytes { key, value in
            out.writeMemcacheValue(key: key, flags: self.flags, cas: cas, valueBytes: value)
        }
    }

    /// The key's and the value's bytes in the item's buffer, for as long as `body` runs.
    func withKeyAndValueBytes<Result>(
        _ body: (_ key: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Result
    ) -> Result {
        self.data.withUnsafeReadableBytes { bytes in
            body(
                UnsafeRawBufferPointer(rebasing: bytes[..<self.keyLength]),
                UnsafeRawBufferPointer(rebasing: bytes[self.keyLength...]))
        }
    }

    /// Seconds left to live: -1 for none, as the meta `t` flag reports it.
    func remainingTTL(now: Int) -> Int {
        self.expiry == 0 ? -1 : max(0, self.expiry - now)
    }
}

/// memcached's expiry rule: 0 never expires; up to 30 days is relative to now; more is a
/// Unix time; a negative TTL, or a Unix time already past, has the item die at once.
func expiryTime(ttl: Int, now: Int) -> Int {
    if ttl == 0 { return 0 }
    if ttl < 0 { return now - 1 }
    if ttl <= 60 * 60 * 24 * 30 { return now + ttl }
    return ttl <= now ? now - 1 : ttl
}
