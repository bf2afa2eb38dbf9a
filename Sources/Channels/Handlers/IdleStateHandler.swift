/// Fires `IdleStateEvent`s when a channel has read nothing, written nothing, or done neither
/// for a while: the usual trigger for a keep-alive ping, or for closing a connection its
/// peer forgot.
///
/// Loop-confined (a handler; not subclassable outside this module). Transparent to the
/// pipeline's type check: put it anywhere,
/// usually first. Reads count when they arrive from the socket side; writes count when they
/// pass this handler towards the socket. Timers run on the channel's loop with its clock (so
/// an `EmbeddedEventLoop`'s manual time drives them in tests). Each kind of idleness fires
/// once per `timeout` of silence, again after another `timeout` if the silence goes on.
///
/// ```swift
/// try channel.pipeline.syncOperations.addHandlers(
///     IdleStateHandler(writeTimeout: .seconds(30)),   // then, on .write: send a ping
///     MyCodec(), MyPingOnIdleHandler())
/// ```
public class IdleStateHandler: ChannelDuplexHandler {
    public typealias InboundIn = Any
    public typealias InboundOut = Any
    public typealias OutboundIn = Any
    public typealias OutboundOut = Any

    public let readTimeout: TimeAmount?
    public let writeTimeout: TimeAmount?
    public let allTimeout: TimeAmount?

    private var lastRead = Deadline.distantPast
    private var lastWrite = Deadline.distantPast
    private var timers: [IdleStateEvent: Scheduled<Void>] = [:]
    private var running = false

    /// - Parameters:
    ///   - readTimeout: fire `.read` after this long without a read (nil: never).
    ///   - writeTimeout: fire `.write` after this long without a write (nil: never).
    ///   - allTimeout: fire `.all` after this long with neither (nil: never).
    public init(readTimeout: TimeAmount? = nil, writeTimeout: TimeAmount? = nil, allTimeout: TimeAmount? = nil) {
        self.readTimeout = readTimeout
        self.writeTimeout = writeTimeout
        self.allTimeout = allTimeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { self.start(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        self.stop()
    }

    public func channelActive(context: ChannelHandlerContext) {
        self.start(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        self.stop()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.lastRead = context.eventLoop.now
        context.fireChannelRead(data)
    }

    public func write(context: ChannelHandlerContext, data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        self.lastWrite = context.eventLoop.now
        context.write(data, promise: promise)
    }

    private func start(context: ChannelHandlerContext) {
        guard !self.running else { return }
        self.running = true
        let now = context.eventLoop.now
        self.lastRead = now
        self.lastWrite = now
        for kind in [IdleStateEvent.read, .write, .all] {
            if let timeout = self.timeout(of: kind) { self.schedule(kind, at: now + timeout, context: context) }
        }
    }

    /// What a full timeout of idleness does: fires the event (`ReadTimeoutHandler` fails
    /// the channel instead).
    func idleDetected(_ kind: IdleStateEvent, context: ChannelHandlerContext) {
        context.fireUserInboundEventTriggered(kind)
    }

    func stop() {
        self.running = false
        for timer in self.timers.values { timer.cancel() }
        self.timers = [:]
    }

    private func timeout(of kind: IdleStateEvent) -> TimeAmount? {
        switch kind {
        case .read: return self.readTimeout
        case .write: return self.writeTimeout
        case .all: return self.allTimeout
        }
    }

    private func lastActivity(of kind: IdleStateEvent) -> Deadline {
        switch kind {
        case .read: return self.lastRead
        case .write: return self.lastWrite
        case .all: return max(self.lastRead, self.lastWrite)
        }
    }

    private func schedule(_ kind: IdleStateEvent, at deadline: Deadline, context: ChannelHandlerContext) {
        let transfer = LoopBound((self, context), eventLoop: context.eventLoop)
        self.timers[kind] = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = transfer.value
            handler.timerFired(kind, context: context)
        }
    }

    private func timerFired(_ kind: IdleStateEvent, context: ChannelHandlerContext) {
        guard self.running, let timeout = self.timeout(of: kind) else { return }
        let now = context.eventLoop.now
        let idleSince = self.lastActivity(of: kind)
        if now - idleSince >= timeout {
            // A full timeout of silence: report it, and again after the next one.
            self.schedule(kind, at: now + timeout, context: context)
            self.idleDetected(kind, context: context)
        } else {
            self.schedule(kind, at: idleSince + timeout, context: context)
        }
    }
}

/// Which direction of a channel has been idle (see `IdleStateHandler`).
public enum IdleStateEvent: Sendable, Hashable {
    /// Nothing was read for the read timeout.
    case read
    /// Nothing was written for the write timeout.
    case write
    /// Nothing was read or written for the all timeout.
    case all
}
