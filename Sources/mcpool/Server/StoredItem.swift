import Channels

/// One item as the embedded server keeps it.
///
/// Thread-safe (a value); lives inside a `StoreShard`, under that shard's lock.
struct StoredItem {
    var key: [UInt8]
    /// The value in storage of its own (never a slice of a read buffer, which would pin it).
    var value: ByteBuffer
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

    /// Bookkeeping charged per item beyond its key and value, close to memcached's item header.
    static let overhead = 56

    var size: Int { self.key.count + self.value.readableBytes + Self.overhead }

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
