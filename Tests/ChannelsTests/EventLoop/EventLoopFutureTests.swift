import Channels
import Testing

struct ExampleError: Error, Equatable {}

@Suite("Futures and promises")
struct EventLoopFutureTests {
    @Test("map, flatMap and flatMapError chain values and errors")
    func chaining() async throws {
        let loop = EmbeddedEventLoop()
        let promise = loop.makePromise(of: Int.self)
        let doubled = promise.futureResult.map { $0 * 2 }
        let chained = doubled.flatMap { value in loop.makeSucceededFuture("\(value)") }
        let failing = promise.futureResult.map { _ -> Int in throw ExampleError() }
        let recovered = failing.flatMapError { _ in loop.makeSucceededFuture(-1) }
        promise.succeed(21)
        #expect(try await chained.get() == "42")
        #expect(try await recovered.get() == -1)
        await #expect(throws: ExampleError.self) { try await failing.get() }
    }

    @Test("callbacks run in the order they were added, and a second completion is ignored")
    func callbackOrder() async throws {
        let loop = EmbeddedEventLoop()
        let promise = loop.makePromise(of: Int.self)
        let order = LockedValue<[Int]>([])
        for index in 0..<5 {
            promise.futureResult.whenSuccess { _ in order.withLock { $0.append(index) } }
        }
        promise.succeed(1)
        promise.fail(ExampleError())
        #expect(order.withLock { $0 } == [0, 1, 2, 3, 4])
        #expect(try await promise.futureResult.get() == 1)
    }

    @Test("a promise completed on another thread delivers on its own loop")
    func crossThreadCompletion() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let loop = group.loops[0]
        let promise = loop.makePromise(of: Bool.self)
        let delivered = promise.futureResult.map { _ in loop.inEventLoop }
        try await group.loops[1].submit { promise.succeed(true) }.get()
        #expect(try await delivered.get())
    }

    @Test("andAllSucceed waits for every future and fails with the first failure")
    func andAllSucceed() async throws {
        let loop = EmbeddedEventLoop()
        let first = loop.makePromise(of: Void.self)
        let second = loop.makePromise(of: Void.self)
        let all = EventLoopFuture.andAllSucceed([first.futureResult, second.futureResult], on: loop)
        first.succeed()
        second.fail(ExampleError())
        await #expect(throws: ExampleError.self) { try await all.get() }
    }
}
