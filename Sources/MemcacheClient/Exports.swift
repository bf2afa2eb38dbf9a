// The types this module's everyday API hands out or takes, so that `import MemcacheClient` is
// all a memcache user writes. Single symbols, not whole modules: a user who builds pipelines
// of their own imports `Channels` and `Codecs` by name.
@_exported public import struct Channels.ByteBuffer
@_exported public import class Channels.EventLoopGroup
@_exported public import class Channels.TLSContext
@_exported public import struct Channels.TimeAmount
@_exported public import struct Codecs.MemcacheCredentials
@_exported public import struct Codecs.MemcacheError
@_exported public import struct Codecs.MemcacheItem
@_exported public import struct Codecs.MemcacheKey
@_exported public import enum Codecs.MemcacheProtocol
@_exported public import struct Pool.ConnectionPoolConfiguration
@_exported public import struct Pool.PoolStatistics
