/// Expiry seconds as memcached keeps them: in 32 bits. A TTL past `Int32.max` (as a Unix
/// time, 2038-01-19) is that latest time, and one below `Int32.min` that earliest: memcached
/// itself would store either with a wrapped time and drop the item at once ("STORED", then a
/// miss), losing it without a word.
///
/// ```swift
/// memcacheExpiry(Int(Date.distantFuture.timeIntervalSince1970))   // 2147483647
/// ```
package func memcacheExpiry(_ seconds: Int) -> Int {
    min(max(seconds, Int(Int32.min)), Int(Int32.max))
}
