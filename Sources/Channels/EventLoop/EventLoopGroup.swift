import Synchronization

/// A fixed set of event loops, one thread each.
///
/// Thread-safe. Channels are spread over the loops with `next()`; code already running on one
/// of the loops can stay there with `currentOrNext()`.
///
/// ```swift
/// let group = try EventLoopGroup(loopCount: 2)
/// defer { try? group.syncShutdownGracefully() }
/// let loop = group.next()
/// ```
public final class EventLoopGroup: Sendable {
    /// The loops, in a stable order.
    public let loops: [SelectableEventLoop]
    private let threads: [OSThread]
    private let cursor = LockedValue(0)
    private let shutdownState = LockedValue(false)
    /// Unique among the process's groups, and kept by each of its loops: how `current` and
    /// `currentIndex` tell this group's loops from another group's.
    private let token: UInt64

    private static let tokens = Atomic<UInt64>(0)

    /// Starts `loopCount` loops, each on its own thread.
    ///
    /// - Throws: `ChannelError.invalidArgument` when `loopCount` is below 1; an `IOError`
    ///   when the kernel refuses an epoll instance, an eventfd or a thread (the loops started
    ///   by then are stopped and joined first).
    public init(loopCount: Int) throws {
        guard loopCount > 0 else {
            throw ChannelError(.invalidArgument, "an event loop group needs at least one loop; asked for \(loopCount)")
        }
        let token = Self.tokens.wrappingAdd(1, ordering: .relaxed).newValue
        let loops = try (0..<loopCount).map { try SelectableEventLoop(index: $0, groupToken: token) }
        var threads: [OSThread] = []
        threads.reserveCapacity(loops.count)
        do {
            for loop in loops { threads.append(try OSThread(name: "loop-\(loop.index)") { loop.run() }) }
        } catch {
            // The loops that run stop; the others never ran and close their descriptors when
            // they are released.
            for loop in loops.prefix(threads.count) { loop.beginShutdown() }
            for thread in threads { thread.join() }
            throw error
        }
        self.token = token
        self.loops = loops
        self.threads = threads
    }

    /// The next loop in round-robin order.
    public func next() -> any EventLoop {
        self.nextLoop()
    }

    func nextLoop() -> SelectableEventLoop {
        let index = self.cursor.withLock { value in
            defer { value = (value + 1) % self.loops.count }
            return value
        }
        return self.loops[index]
    }

    /// The loop the caller runs on, if it is one of ours; otherwise the next one.
    public func currentOrNext() -> any EventLoop {
        self.current ?? self.nextLoop()
    }

    /// The index in `loops` of the loop the caller runs on, if it is one of this group's.
    /// Cheaper than `current?.index` on a hot path: the loop is neither returned nor retained
    /// (`current` cost two retains and releases per pooled get, counted with a uprobe).
    package var currentIndex: Int? { self.identity.currentIndex }

    /// The group as a plain value, for hot paths of objects shared by every loop: asking it
    /// `currentIndex` retains nothing, where going through the group retains the group, whose
    /// count then bounces between the loops' cores (a pooled get did so twice).
    package var identity: Identity { Identity(token: self.token) }

    /// See `identity`.
    package struct Identity: Sendable, Equatable {
        fileprivate let token: UInt64

        /// The index of the loop the caller runs on, if it is one of this group's.
        package var currentIndex: Int? {
            guard let position = SelectableEventLoop.currentPosition, position.groupToken == self.token else {
                return nil
            }
            return position.index
        }
    }

    /// The loop the caller runs on, if it is one of this group's.
    public var current: SelectableEventLoop? {
        guard let loop = SelectableEventLoop.current, loop.groupToken == self.token else { return nil }
        return loop
    }

    /// Closes every channel, fails pending timers, and joins every loop thread.
    ///
    /// Blocks until done. A second call waits for the first and returns.
    /// - Throws: `ChannelError.unsupportedOperation` when called on one of the group's own
    ///   loops (it would wait for itself).
    public func syncShutdownGracefully() throws {
        guard self.current == nil else {
            throw ChannelError(.unsupportedOperation, "cannot shut down an event loop group from one of its own loops")
        }
        self.shutdownState.withLock { done in
            guard !done else { return }
            for loop in self.loops { loop.beginShutdown() }
            for thread in self.threads { thread.join() }
            done = true
        }
    }

    /// The async form of `syncShutdownGracefully`: the joins happen on a helper thread (on
    /// the caller's, blocking it, when no thread can be started).
    public func shutdownGracefully() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            do {
                try OSThread.detached(name: "group-shutdown") {
                    continuation.resume(with: Result { try self.syncShutdownGracefully() })
                }
            } catch {
                continuation.resume(with: Result { try self.syncShutdownGracefully() })
            }
        }
    }
}
