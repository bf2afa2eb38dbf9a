public import Channels

/// The response timeout of a request/response connection: how long the server may stay
/// silent while requests are outstanding. One timer per connection, not one per request.
///
/// Loop-confined: a value kept by the connection's handler, which schedules the timer this
/// clock asks for and reports back when it fires. A reply pushes the deadline without touching
/// the timer; a timer that fires before the pushed deadline is re-armed for it (so a busy
/// connection costs one timer per `timeout`, not one per reply).
///
/// States: idle (no timer) → armed (`start` asked for a timer) → idle again when the timer
/// fires with nothing outstanding, when it finds the deadline passed (`.expired`: the
/// handler fails what is in flight and closes the connection), or when the connection closes
/// and the handler cancels the timer (`stopped`).
@usableFromInline
package struct ResponseClock {
    /// nil: wait forever.
    @usableFromInline package let timeout: TimeAmount?
    private var deadline = Deadline.distantFuture
    private var armed = false

    @inlinable package init(timeout: TimeAmount?) {
        self.timeout = timeout
    }

    /// Requests became outstanding: the silence counts from `now`. Returns the deadline to
    /// schedule a timer for, or nil when a timer is already armed (or there is no timeout).
    package mutating func start(now: Deadline) -> Deadline? {
        guard let timeout = self.timeout else { return nil }
        self.deadline = now + timeout
        guard !self.armed else { return nil }
        self.armed = true
        return self.deadline
    }

    /// The server sent something: the silence counts from `now` again.
    package mutating func heard(now: Deadline) {
        guard self.armed, let timeout = self.timeout else { return }
        self.deadline = now + timeout
    }

    package enum Expiry: Equatable {
        /// Nothing is outstanding: the timer stops.
        case idle
        /// The server spoke meanwhile: schedule the timer again for this deadline.
        case rearm(Deadline)
        /// The server was silent for the whole timeout.
        case expired
    }

    /// The handler cancelled the timer (its connection closed): idle, a later `start` arms
    /// a new one.
    package mutating func stopped() {
        self.armed = false
    }

    /// The timer fired at `now`; `outstanding` says whether requests still wait.
    package mutating func fired(now: Deadline, outstanding: Bool) -> Expiry {
        guard outstanding else {
            self.armed = false
            return .idle
        }
        if now < self.deadline { return .rearm(self.deadline) }
        self.armed = false
        return .expired
    }
}

/// A client handler with a response timeout: what the one shared timer code needs of it.
///
/// Loop-confined, like the handlers that adopt it (`MemcacheClientHandler`,
/// `PipelinedClientHandler`, `RequestResponseHandler`).
package protocol ResponseTimedHandler: AnyObject, Sendable {
    var responseClock: ResponseClock { get set }
    /// The armed timer, kept so that a closing connection cancels it: the loop would otherwise
    /// hold the handler, and all it holds, until the timer fired.
    var responseTimer: Scheduled<Void>? { get set }
    /// The handler's context while it is in a pipeline.
    var responseTimerContext: ChannelHandlerContext? { get }
    /// Whether requests still wait for their replies (on a connection that has not failed).
    var isAwaitingResponse: Bool { get }
    /// The server was silent for `timeout` while requests waited: fail them and close.
    func responseTimedOut(after timeout: TimeAmount, context: ChannelHandlerContext)
}

extension ResponseTimedHandler {
    /// Requests became outstanding: the silence counts from now; the one timer is armed if
    /// it is not already.
    package func startResponseClock(context: ChannelHandlerContext) {
        guard let deadline = self.responseClock.start(now: context.eventLoop.now) else { return }
        self.armResponseTimer(at: deadline, loop: context.eventLoop)
    }

    private func armResponseTimer(at deadline: Deadline, loop: any EventLoop) {
        // The task reaches the loop through the context, never by capturing it: the loop keeps
        // the task until it fires, and a task holding its loop would be a cycle.
        self.responseTimer = loop.scheduleTask(deadline: deadline) { [self] in
            self.responseTimer = nil
            guard let context = self.responseTimerContext else {
                _ = self.responseClock.fired(now: .distantFuture, outstanding: false)
                return
            }
            switch self.responseClock.fired(now: context.eventLoop.now, outstanding: self.isAwaitingResponse) {
            case .idle: break
            case .rearm(let next): self.armResponseTimer(at: next, loop: context.eventLoop)
            case .expired: self.responseTimedOut(after: self.responseClock.timeout ?? .zero, context: context)
            }
        }
    }

    /// The connection closed or the handler left its pipeline: the timer is cancelled, so the
    /// loop lets go of the handler now.
    package func stopResponseClock() {
        guard let timer = self.responseTimer else { return }
        self.responseTimer = nil
        self.responseClock.stopped()
        timer.cancel()
    }
}
