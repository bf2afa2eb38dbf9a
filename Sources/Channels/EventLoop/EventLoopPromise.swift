/// The write side of an `EventLoopFuture`: complete it exactly once.
///
/// Thread-safe: complete from any thread; the result is delivered on the future's loop. A
/// second completion is ignored.
///
/// ```swift
/// let promise = loop.makePromise(of: Int.self)
/// promise.futureResult.whenSuccess { print($0) }
/// promise.succeed(42)
/// ```
public struct EventLoopPromise<Value: Sendable>: Sendable {
    public let futureResult: EventLoopFuture<Value>

    init(eventLoop: any EventLoop) {
        self.futureResult = EventLoopFuture(eventLoop: eventLoop)
    }

    public func succeed(_ value: Value) {
        self.completeWith(.success(value))
    }

    public func fail(_ error: any Error) {
        self.completeWith(.failure(error))
    }

    public func completeWith(_ result: Result<Value, any Error>) {
        let future = self.futureResult
        if future.eventLoop.inEventLoop {
            future.complete(result)
        } else {
            let transfer = LoopBound(result, eventLoop: future.eventLoop) // Value is Sendable; `any Error` is not
            future.eventLoop.execute { future.complete(transfer.value) }
        }
    }
}

extension EventLoopPromise where Value == Void {
    public func succeed() { self.succeed(()) }
}
