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
    public var eventLoop: any EventLoop { self.head.eventLoop }
    /// The loop's end-of-turn flushes (nil for a foreign `EventLoop`, which gets a task instead).
    let turnEndFlushes: TurnEndFlushes?
    // Set in init right after the other fields (the contexts need `self`); never nil after.
    private(set) var head: ChannelHandlerContext! // SAFETY: assigned in init before self escapes
    private(set) var tail: ChannelHandlerContext! // SAFETY: assigned in init before self escapes
    private var nameCounter = 0
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
        // Shared: stateless, and a pair per pipeline was 64 B of every idle connection.
        let headHandler = HeadHandler.shared
        let tailHandler = TailHandler.shared
        self.head = ChannelHandlerContext(
            givenName: "head", ordinal: 0, handler: headHandler,
            types: HandlerTypes.ofEnd(inboundOut: readType, outboundIn: writeType), pipeline: self, eventLoop: eventLoop
        )
        self.tail = ChannelHandlerContext(
            givenName: "tail", ordinal: 0, handler: tailHandler,
            types: HandlerTypes.ofEnd(inboundOut: nil, outboundIn: nil),
            pipeline: self, eventLoop: eventLoop)
        self.head.next = self.tail
        self.tail.previous = self.head
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

    func fireChannelActive() { self.head.fireChannelActive() }
    func fireChannelInactive() { self.head.fireChannelInactive() }
    func fireChannelRead(_ data: PipelineMessage) { self.head.fireChannelRead(data) }
    func fireChannelReadComplete() { self.head.fireChannelReadComplete() }
    func fireChannelWritabilityChanged() { self.head.fireChannelWritabilityChanged() }
    func fireUserInboundEventTriggered(_ event: Any) { self.head.fireUserInboundEventTriggered(event) }
    func fireErrorCaught(_ error: any Error) { self.head.fireErrorCaught(error) }

    // Operations entering at the tail (loop only).
    func write(_ data: PipelineMessage, promise: EventLoopPromise<Void>?) { self.tail.write(data, promise: promise) }
    func flush() { self.tail.flush() }
    func flushAtEndOfTurn() { self.tail.flushAtEndOfTurn() }
    func read() { self.tail.read() }
    func close(mode: CloseMode, promise: EventLoopPromise<Void>?) { self.tail.close(mode: mode, promise: promise) }

    // MARK: Structure (loop only)

    /// The number in the made-up name of the next handler added without a name.
    func nextOrdinal() -> Int {
        self.nameCounter += 1
        return self.nameCounter
    }

    func contexts() -> [ChannelHandlerContext] {
        var all: [ChannelHandlerContext] = []
        var candidate = self.head.next
        while let context = candidate, context !== self.tail {
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
        guard !context.isRemoved, context !== self.head, context !== self.tail,
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
        var candidate: ChannelHandlerContext? = self.head
        while let context = candidate {
            candidate = context.next
            context.next = nil
            context.previous = nil
        }
    }
}
