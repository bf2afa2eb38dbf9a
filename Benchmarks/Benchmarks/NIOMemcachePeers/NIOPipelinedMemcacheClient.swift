public import NIOCore
public import NIOPosix
import Synchronization

/// The SwiftNIO peer for the mixed workload: a fixed set of connections per loop, each
/// shared by many callers (requests pipelined, replies matched in order by
/// `NIOMetaClientHandler`), written the way one would with SwiftNIO 2: a caller picks a loop
/// round robin, then one of its connections round robin, and writes with `writeAndFlush`.
public final class NIOPipelinedMemcacheClient: Sendable {
    private let connections: [[any NIOCore.Channel]]
    private let cursor = Atomic<Int>(0)
    /// What `set` stores, made once (as the other client's value is).
    private let value: NIOCore.ByteBuffer

    private init(connections: [[any NIOCore.Channel]], valueSize: Int) {
        self.connections = connections
        self.value = NIOCore.ByteBuffer(bytes: [UInt8](repeating: 0x62, count: valueSize))
    }

    public static func connect(
        group: MultiThreadedEventLoopGroup, host: String, port: Int, perLoop: Int, valueSize: Int
    ) async throws -> NIOPipelinedMemcacheClient {
        var connections: [[any NIOCore.Channel]] = []
        for loop in group.makeIterator() {
            var mine: [any NIOCore.Channel] = []
            for _ in 0..<perLoop {
                mine.append(
                    try await NIOPosix.ClientBootstrap(group: loop)
                        .channelOption(.socketOption(.tcp_nodelay), value: 1)
                        .channelInitializer { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    NIOCore.ByteToMessageHandler(NIOMetaDecoder()))
                                try channel.pipeline.syncOperations.addHandler(NIOMetaClientHandler())
                            }
                        }
                        .connect(host: host, port: port).get())
            }
            connections.append(mine)
        }
        return NIOPipelinedMemcacheClient(connections: connections, valueSize: valueSize)
    }

    private func next() -> any NIOCore.Channel {
        let ticket = self.cursor.wrappingAdd(1, ordering: .relaxed).oldValue
        let loop = self.connections[ticket % self.connections.count]
        return loop[(ticket / self.connections.count) % loop.count]
    }

    /// `mg <key> v`.
    public func get(_ key: String) async throws -> NIOCore.ByteBuffer? {
        let channel = self.next()
        var request = channel.allocator.buffer(capacity: key.utf8.count + 8)
        request.writeString("mg ")
        request.writeString(key)
        request.writeString(" v\r\n")
        return try await self.send(request, on: channel).value
    }

    /// `ms <key> <size>` with the client's value.
    public func set(_ key: String) async throws {
        let channel = self.next()
        let value = self.value
        var request = channel.allocator.buffer(capacity: key.utf8.count + value.readableBytes + 24)
        request.writeString("ms ")
        request.writeString(key)
        request.writeString(" \(value.readableBytes)\r\n")
        request.writeImmutableBuffer(value)
        request.writeString("\r\n")
        _ = try await self.send(request, on: channel)
    }

    private func send(_ request: NIOCore.ByteBuffer, on channel: any NIOCore.Channel) async throws -> NIOMetaReply {
        let promise = channel.eventLoop.makePromise(of: NIOMetaReply.self)
        channel.writeAndFlush((request, promise), promise: nil)
        return try await promise.futureResult.get()
    }

    public func close() async {
        for channel in self.connections.joined() { try? await channel.close() }
    }
}
