/// The result of work that finishes later on an event loop.
///
/// Thread-safe to hold and to chain from any thread; callbacks always run on `eventLoop`, in
/// the order they were added.
///
/// ```swift
/// let length = channel.writeAndFlush(buffer).map { buffer.readableBytes }
/// print(try await length.get())
/// ```
public final class EventLoopFuture<Value: Sendable>: @unchecked Sendable { // SAFETY: state only on its loop
    // SAFETY: `result` and `callbacks` are only read or written on `eventLoop`'s thread:
    // every entry point checks `inEventLoop` and hops otherwise.
    public let eventLoop: any EventLoop
    var result: Result<Value, any Error>?
    private var firstCallback: ((Result<Value, any Error>) -> Void)?
    private var moreCallbacks: [(Result<Value, any Error>) -> Void] = []

    init(eventLoop: any EventLoop, result: Result<Value, any Error>? = nil) {
        self.eventLoop = eventLoop
        self.result = result
    }

    /// Calls `callback` on the loop once the result is known (at once if it already is).
    public func whenComplete(_ callback: @escaping @Sendable (Result<Value, any Error>) -> Void) {
        self.addCallback(callback)
    }

    public func whenSuccess(_ callback: @escaping @Sendable (Value) -> Void) {
        self.addCallback { if case .success(let value) = $0 { callback(value) } }
    }

    public func whenFailure(_ callback: @escaping @Sendable (any Error) -> Void) {
        self.addCallback { if case .failure(let error) = $0 { callback(error) } }
    }

    /// Loop-side registration: `callback` may capture loop-confined state.
    func addCallback(_ callback: @escaping (Result<Value, any Error>) -> Void) {
        self.eventLoop.executeOnLoop {
            if let result = self.result {
                callback(result)
            } else if self.firstCallback == nil {
                self.firstCallback = callback
            } else {
                self.moreCallbacks.append(callback)
            }
        }
    }

    /// Sets the result and runs the callbacks. Loop only; a second result is ignored.
    func complete(_ result: Result<Value, any Error>) {
        self.eventLoop.assertInEventLoop()
        guard self.result == nil else { return }
        self.result = result
        if let first = self.firstCallback {
            self.firstCallback = nil
            first(result)
        }
        if !self.moreCallbacks.isEmpty {
            let callbacks = self.moreCallbacks
            self.moreCallbacks = []
            for callback in callbacks { callback(result) }
        }
    }

    /// Waits for the result without blocking a thread.
    public func get() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            self.whenComplete { continuation.resume(with: $0) }
        }
    }
}

extension EventLoopFuture {
    /// A future of `transform` applied to this future's value.
    public func map<New: Sendable>(_ transform: @escaping @Sendable (Value) throws -> New) -> EventLoopFuture<New> {
        let next = EventLoopPromise<New>(eventLoop: self.eventLoop)
        self.addCallback { result in
            next.completeWith(result.flatMap { value in Result { try transform(value) } })
        }
        return next.futureResult
    }

    /// A future of the future that `transform` returns.
    public func flatMap<New: Sendable>(
        _ transform: @escaping @Sendable (Value) -> EventLoopFuture<New>
    ) -> EventLoopFuture<New> {
        let next = EventLoopPromise<New>(eventLoop: self.eventLoop)
        self.addCallback { result in
            switch result {
            case .success(let value): transform(value).cascade(to: next)
            case .failure(let error): next.fail(error)
            }
        }
        return next.futureResult
    }

    /// Turns a failure into the future that `transform` returns; values pass through.
    public func flatMapError(
        _ transform: @escaping @Sendable (any Error) -> EventLoopFuture<Value>
    ) -> EventLoopFuture<Value> {
        let next = EventLoopPromise<Value>(eventLoop: self.eventLoop)
        self.addCallback { result in
            switch result {
            case .success(let value): next.succeed(value)
            case .failure(let error): transform(error).cascade(to: next)
            }
        }
        return next.futureResult
    }

    /// Completes `promise` with this future's result (nil: nothing to do).
    public func cascade(to promise: EventLoopPromise<Value>?) {
        guard let promise else { return }
        self.addCallback { promise.completeWith($0) }
    }

    /// Runs `callback` whatever the result, and passes the result on.
    public func always(_ callback: @escaping @Sendable (Result<Value, any Error>) -> Void) -> EventLoopFuture<Value> {
        self.whenComplete(callback)
        return self
    }

    /// The same result, delivered on `loop`.
    public func hop(to loop: any EventLoop) -> EventLoopFuture<Value> {
        if loop === self.eventLoop { return self }
        let next = EventLoopPromise<Value>(eventLoop: loop)
        self.whenComplete { next.completeWith($0) }
        return next.futureResult
    }
}

extension EventLoopFuture where Value == Void {
    /// Succeeds when all `futures` succeed; fails with the first failure.
    public static func andAllSucceed(_ futures: [EventLoopFuture<Void>], on loop: any EventLoop) -> EventLoopFuture<
        Void
    > {
        let promise = EventLoopPromise<Void>(eventLoop: loop)
        let remaining = LockedValue(futures.count)
        if futures.isEmpty { promise.succeed(()) }
        for future in futures {
            future.whenComplete { result in
                switch result {
                case .failure(let error): promise.fail(error)
                case .success:
                    if remaining.withLock({
                        $0 -= 1
                        return $0 == 0
                    }) {
                        promise.succeed(())
                    }
                }
            }
        }
        return promise.futureResult
    }
}
