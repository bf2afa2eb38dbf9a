// `import MemcacheServer` brings the types its API hands out (`EventLoopGroup`,
// `SocketAddress`, `TLSContext`, `TimeAmount`: Channels).
@_exported public import Channels
