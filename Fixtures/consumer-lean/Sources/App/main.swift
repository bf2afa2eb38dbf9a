import MemcacheClient
// The pool and the in-process server without swift-service-lifecycle: started and shut down
// by hand. Prints "consumer-lean: ok" when a value makes the round trip.
import MemcacheServer

let group = try EventLoopGroup(loopCount: 1)
let server = try await InProcessMemcacheServer.start(group: group, configuration: .init(port: 0))
let cache = MemcachePool(host: "127.0.0.1", port: server.localAddress.port, maxConnections: 2, group: group)
try await cache.set("greeting", to: ByteBuffer(string: "hello"))
let value = try await cache.get("greeting")
await cache.shutdown()
await server.shutdown()
try await group.shutdownGracefully()
guard value.map({ String(buffer: $0) }) == "hello" else {
    fatalError("consumer-lean: read back \(String(describing: value))")
}
print("consumer-lean: ok")
