/// The ordered chain of handlers of one channel.
///
/// Thread-safe: the future-returning methods may be called from any thread and run on the
/// channel's loop. `syncOperations` is the faster, synchronous form for code already on the
/// loop (channel initializers, handlers). Handlers can be added and removed at any time, also
/// from inside a handler; a handler whose message types do not fit its neighbours is rejected
/// with `PipelineError.typeMismatch` naming both handlers, before any message flows.
///
/// ```
///   socket ──read──▶ head ▶ [decoder] ▶ [codec] ▶ [your handler] ▶ tail
///   socket ◀─write── head ◀ [encoder] ◀ [codec] ◀ [your handler] ◀ channel.write
/// ```
///
/// ```swift
/// try channel.pipeline.syncOperations.addHandlers([LineDecoder(), MyHandler()])
/// ```
public final class ChannelPipeline: @unchecked Sendable { // SAFETY: loop-confined list, below
    // SAFETY: the linked list of contexts and every mutable field are touched only on
    // `eventLoop`; the public thread-safe methods hop there first.
    unowned let core: any ChannelCore
    unowned let channelReference: any Channel
    /// The channel's loop (kept by the contexts: one copy fewer here put the pipeline in
    /// malloc's 96-byte size rather than 112, per connection).
    public var eventLoop: any EventLoop { self.end.eventLoop }
    /// The loop's end-of-turn flushes (nil for a foreign `EventLoop`, which gets a task instead).
    let turnEndFlushes: TurnEndFlushes?
    /// Both ends of the pipeline in one context (`PipelineEndHandler`): the handlers form a
    /// ring through it. Its `next` is the first handler (the head's side, where reads enter),
    /// its `previous` the last (the tail's side, where `channel.write` enters); an event
    /// walking past the last handler reaches it as the tail, an operation walking past the
    /// first reaches it as the head.
    // Set in init right after the other fields (the context needs `self`); never nil after.
    private(set) var end: ChannelHandlerContext! // SAFETY: assigned in init before self escapes
    /// 32 bits, beside the flag: the pipeline then fits malloc's 80-byte size.
    private var nameCounter: UInt32 = 0
    private(set) var isTornDown = false

    /// - Parameters:
    ///   - readType: what the channel delivers to the first inbound handler (`ByteBuffer` for
    ///     sockets, `Any` for channels that take any message).
    ///   - writeType: what the channel accepts from the last outbound handler.
    init(channel: any Channel, core: any ChannelCore, eventLoop: any EventLoop, readType: Any.Type, writeType: Any.Type)
    {
        self.channelReference = channel
        self.core = core
        self.turnEndFlushes = (eventLoop as? any TurnEndFlushing)?.turnEndFlushes
        // Shared: stateless, and one per pipeline was 32 B of every idle connection.
        self.end = ChannelHandlerContext(
            givenName: "channel", ordinal: 0, handler: PipelineEndHandler.shared,
            types: HandlerTypes.ofEnd(inboundOut: readType, outboundIn: writeType), pipeline: self, eventLoop: eventLoop
        )
        self.end.next = self.end
        self.end.previous = self.end
    }

    /// The channel this pipeline belongs to.
    public var channel: any Channel { self.channelReference }

    /// The synchronous operations, for use on the channel's loop only.
    public var syncOperations: SyncOperations { SyncOperations(pipeline: self) }

    // MARK: Thread-safe operations

    /// Where to put a new handler.
    public enum Position: Sendable {
        case first
        case last
        case before(String)
        case after(String)
    }

    /// Adds `handler` on the channel's loop. Fails with `PipelineError.typeMismatch` when
    /// its types do not fit its neighbours.
    public func addHandler(_ handler: any ChannelHandler, name: String? = nil, position: Position = .last)
        -> EventLoopFuture<Void>
    {
        let transfer = LoopBound(handler, eventLoop: self.eventLoop)
        return self.eventLoop.submit {
            try self.syncOperations.addHandler(transfer.value, name: name, position: position)
        }
    }

    /// Removes the handler called `name` on the channel's loop.
    public func removeHandler(name: String) -> EventLoopFuture<Void> {
        self.eventLoop.submit { try self.syncOperations.removeHandler(name: name) }
    }

    // MARK: Events from the channel (loop only)

    // Events entering at the head: they go to the first inbound handler after `end`.
    func fireChannelActive() { self.withEnd { $0.fireChannelActive() } }
    func fireChannelInactive() { self.withEnd { $0.fireChannelInactive() } }
    func fireChannelRead(_ data: PipelineMessage) { self.withEnd { $0.fireChannelRead(data) } }
    func fireChannelReadComplete() { self.withEnd { $0.fireChannelReadComplete() } }
    func fireChannelWritabilityChanged() { self.withEnd { $0.fireChannelWritabilityChanged() } }
    func fireUserInboundEventTriggered(_ event: Any) { self.withEnd { $0.fireUserInboundEventTriggered(event) } }
    func fireErrorCaught(_ error: any Error) { self.withEnd { $0.fireErrorCaught(error) } }

    // Operations entering at the tail: they go to the last outbound handler before `end`.
    func write(_ data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        self.withEnd { $0.write(data, promise: promise) }
    }
    func flush() { self.withEnd { $0.flush() } }
    func flushAtEndOfTurn() { self.withEnd { $0.flushAtEndOfTurn() } }
    func read() { self.withEnd { $0.read() } }
    func close(mode: CloseMode, promise: EventLoopPromise<Void>?) {
        self.withEnd { $0.close(mode: mode, promise: promise) }
    }

    /// Runs `body` with `end` borrowed rather than retained: reading the implicitly unwrapped
    /// `var` retained and released it on every event entering the pipeline (two per read of a
    /// socket, uprobes under `mcpool bench`).
    @inline(__always)
    private func withEnd<Result>(_ body: (ChannelHandlerContext) -> Result) -> Result {
        // SAFETY: `end` is assigned once, in `init`, and never again; this pipeline holds it,
        // and the caller holds this pipeline for the call.
        Unmanaged.passUnretained(self.end)._withUnsafeGuaranteedRef(body)
    }

    // MARK: Structure (loop only)

    /// The number in the made-up name of the next handler added without a name.
    func nextOrdinal() -> Int {
        self.nameCounter &+= 1
        return Int(self.nameCounter)
    }

    /// The handlers, first to last.
    func contexts() -> [ChannelHandlerContext] {
        var all: [ChannelHandlerContext] = []
        var candidate = self.end.next
        while let context = candidate, context !== self.end {
            all.append(context)
            candidate = context.next
        }
        return all
    }

    /// Links `context` between `previous` and `previous.next`, after checking its types.
    func insert(_ context: ChannelHandlerContext, after previous: ChannelHandlerContext) throws {
        guard !self.isTornDown else {
            throw PipelineError(.pipelineClosed, "cannot add '\(context.name)': the channel is closed")
        }
        guard let following = previous.next else {
            throw PipelineError(.alreadyRemoved, "cannot add '\(context.name)' next to a removed handler")
        }
        try TypeCheck.verifyInsertion(of: context, between: previous, and: following)
        context.previous = previous
        context.next = following
        previous.next = context
        following.previous = context
        context.handler.handlerAdded(context: context)
    }

    /// Unlinks `context`. Its own links stay, so an event it is passing on right now still
    /// reaches the rest of the pipeline.
    func remove(_ context: ChannelHandlerContext) throws {
        guard !context.isRemoved, context !== self.end,
            let previous = context.previous, let following = context.next
        else {
            throw PipelineError(.alreadyRemoved, "'\(context.name)' is not in the pipeline")
        }
        try TypeCheck.verifyRemoval(of: context, between: previous, and: following)
        previous.next = following
        following.previous = previous
        context.isRemoved = true
        context.handler.handlerRemoved(context: context)
    }

    /// After the channel closed: every handler is told it was removed, and the links that
    /// would keep handlers and pipeline alive are cut.
    func tearDown() {
        guard !self.isTornDown else { return }
        self.isTornDown = true
        for context in self.contexts() {
            context.isRemoved = true
            context.handler.handlerRemoved(context: context)
        }
        // Around the ring once: the end's links are cut first, so the walk stops when it
        // comes back to it.
        var candidate: ChannelHandlerContext? = self.end
        while let context = candidate {
            candidate = context.next
            context.next = nil
            context.previous = nil
        }
    }
}
