// `import Pool` is all a memcache user writes: the types its API hands out — `ByteBuffer`,
// `EventLoopGroup`, `TimeAmount` (Channels), `MemcacheKey`, `MemcacheError` (Codecs) — come
// with it, as swift-nio's umbrella module brings NIOCore.
@_exported public import Channels
@_exported public import Codecs
