// The types this module's API hands out or takes (Channels'), so that `import MemcacheServer`
// is enough to start one. Single symbols, not the whole module.
@_exported public import struct Channels.ByteBuffer
@_exported public import class Channels.EventLoopGroup
@_exported public import struct Channels.SocketAddress
@_exported public import class Channels.TLSContext
@_exported public import struct Channels.TimeAmount
@_exported public import struct Codecs.MemcacheCredentials
