import Channels
import TestSupport
import Testing

@Suite("Close future")
struct CloseFutureTests {
    @Test(
        "closeFuture is made when first asked for: asked before the close, after it, on the loop or off it, it completes, and it is one future"
    )
    func askedAnyTime() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try await startEchoServer(group: group)

        let early = try await ClientBootstrap(group: group).connect(to: server.localAddress).get()
        let future = early.closeFuture
        #expect(early.closeFuture === future)
        #expect(try await early.eventLoop.submit { early.closeFuture }.get() === future)
        try await early.close().get()
        #expect(try await completes(future))

        let lateOffLoop = try await ClientBootstrap(group: group).connect(to: server.localAddress).get()
        try await lateOffLoop.close().get()
        #expect(try await completes(lateOffLoop.closeFuture))

        let lateOnLoop = try await ClientBootstrap(group: group).connect(to: server.localAddress).get()
        try await lateOnLoop.close().get()
        let onLoop = try await lateOnLoop.eventLoop.submit { lateOnLoop.closeFuture }.get()
        #expect(try await completes(onLoop))
        try await server.close()
    }

    @Test("asked from other threads while the loop closes the channel, every close future completes (200 channels)")
    func askedWhileClosing() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try await startEchoServer(group: group)
        for _ in 0..<200 {
            let channel = try await ClientBootstrap(group: group).connect(to: server.localAddress).get()
            async let closed: Void = channel.close().get()
            async let asked = completes(channel.closeFuture)
            let (_, completed) = try await (closed, asked)
            #expect(completed)
        }
        try await server.close()
    }
}

/// Whether `future` completes within `testPatience`: a close future nobody completes must
/// fail the test, not hang it.
private func completes(_ future: EventLoopFuture<Void>) async throws -> Bool {
    let done = LockedValue(false)
    future.whenComplete { _ in done.withLock { $0 = true } }
    return try await poll { done.withLock { $0 } }
}
