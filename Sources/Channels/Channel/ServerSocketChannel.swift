import Synchronization

/// A listening TCP socket. Each accepted connection becomes a `SocketChannel` on the loop
/// chosen for it, and is also passed through this channel's pipeline as `any Channel`.
///
/// Thread-safe as a `Channel`; its state is loop-confined. When the process runs out of
/// descriptors (`EMFILE`) accepting pauses briefly instead of spinning on a readable listener.
// SAFETY: loop-confined state, below
final class ServerSocketChannel: Channel, Selectable, ChannelCore, @unchecked Sendable { // SAFETY: see above
    // SAFETY: every `var` is touched only on `loop`'s thread.
    let loop: SelectableEventLoop
    private var pipelineStorage: ChannelPipeline! // SAFETY: assigned at the end of init, before self escapes
    private var fd: Int32
    /// Its place in the loop's selector, once registered.
    private var registration = SelectorRegistration.none
    private var closed = false
    private var paused = false
    private let chooseChildLoop: @Sendable () -> SelectableEventLoop
    private let setUpChild: @Sendable (SocketChannel) -> Void
    private let closePromise: EventLoopPromise<Void>
    private let activeFlag = Atomic<Bool>(false)
    private let boundAddress = LockedValue<SocketAddress?>(nil)
    /// The socket file this listener made (a Unix-domain listener), removed when it closes.
    private var socketFile: (path: String, state: UnixSocketFile.State)?

    /// How long accepting pauses after the process ran out of descriptors.
    static let resourceExhaustionPause = TimeAmount.milliseconds(100)

    init(
        fd: Int32,
        loop: SelectableEventLoop,
        chooseChildLoop: @escaping @Sendable () -> SelectableEventLoop,
        setUpChild: @escaping @Sendable (SocketChannel) -> Void
    ) {
        self.fd = fd
        self.loop = loop
        self.chooseChildLoop = chooseChildLoop
        self.setUpChild = setUpChild
        self.closePromise = loop.makePromise(of: Void.self)
        self.pipelineStorage = ChannelPipeline(
            channel: self, core: self, eventLoop: loop, readType: (any Channel).self, writeType: Never.self)
    }

    var eventLoop: any EventLoop { self.loop }
    var pipeline: ChannelPipeline { self.pipelineStorage }
    var isActive: Bool { self.activeFlag.load(ordering: .acquiring) }
    var isWritable: Bool { false }
    var localAddress: SocketAddress? { self.boundAddress.withLock { $0 } }
    var remoteAddress: SocketAddress? { nil }
    var closeFuture: EventLoopFuture<Void> { self.closePromise.futureResult }

    func setOption<Value: Sendable>(_ option: ChannelOption<Value>, value: Value) -> EventLoopFuture<Void> {
        self.loop.makeFailedFuture(ChannelError(.unsupportedOperation, "set listener options through ServerBootstrap"))
    }

    func getOption<Value: Sendable>(_ option: ChannelOption<Value>) -> EventLoopFuture<Value> {
        self.loop.makeFailedFuture(ChannelError(.unsupportedOperation, "a listener has no readable options"))
    }

    /// Binds, listens and registers. Loop only.
    ///
    /// A Unix-domain listener takes over a socket file nobody listens on any more (left by a
    /// crashed server), refuses a path where a server listens or that is not a socket
    /// (`ChannelError.addressInUse`), sets `fileMode` on its file and removes the file when it
    /// closes.
    func listen(on address: SocketAddress, backlog: Int32, reusePort: Bool, fileMode: UInt32? = nil) throws {
        if let path = address.unixDomainSocketPath {
            switch try UnixSocketFile.state(atPath: path) {
            case .absent: break
            case .other: throw ChannelError(.addressInUse, "\(path) exists and is not a socket")
            case .socket:
                guard !UnixSocketFile.hasListener(address) else {
                    throw ChannelError(.addressInUse, "another server listens on \(path)")
                }
                try UnixSocketFile.remove(atPath: path)
            }
            try Posix.bind(self.fd, to: address)
            self.socketFile = (path, try UnixSocketFile.state(atPath: path))
            if let fileMode { try UnixSocketFile.setMode(fileMode, atPath: path) }
        } else {
            try Posix.setOption(self.fd, .reuseAddress(true))
            if reusePort { try Posix.setOption(self.fd, .reusePort(true)) }
            try Posix.bind(self.fd, to: address)
        }
        try Posix.listen(self.fd, backlog: backlog)
        self.registration = try self.loop.selector.register(self, fd: self.fd, interest: .read)
        self.boundAddress.withLock { $0 = Posix.localAddress(self.fd) }
        self.activeFlag.store(true, ordering: .releasing)
        self.pipeline.fireChannelActive()
    }

    func ready(_ events: IOEvents) {
        self.loop.assertInEventLoop()
        // Bounded per wake-up so that a connection flood cannot starve the loop's channels.
        for _ in 0..<64 where !self.closed && !self.paused {
            let child: Int32
            do {
                guard let accepted = try Posix.accept(self.fd) else { return }
                child = accepted
            } catch let error as IOError where error.isAbortedBeforeAccept {
                continue
            } catch let error as IOError where error.isResourceExhaustion {
                self.pauseAccepting()
                self.pipeline.fireErrorCaught(error)
                return
            } catch {
                self.pipeline.fireErrorCaught(error)
                return
            }
            let loop = self.chooseChildLoop()
            let channel = SocketChannel(fd: child, loop: loop)
            let setUp = self.setUpChild
            loop.executeOnLoop { setUp(channel) }
            self.pipeline.fireChannelRead(PipelineMessage(channel as any Channel))
        }
    }

    private func pauseAccepting() {
        self.paused = true
        try? self.loop.selector.reregister(self.registration, fd: self.fd, interest: .edgeTriggered)
        self.loop.scheduleTask(in: Self.resourceExhaustionPause) { [self] in
            guard !self.closed else { return }
            self.paused = false
            try? self.loop.selector.reregister(self.registration, fd: self.fd, interest: .read)
        }
    }

    func closeForShutdown() {
        self.close0(mode: .all, promise: nil)
    }

    func write0(_ data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError(.unsupportedOperation, "a listening channel cannot write"))
    }

    func flush0() {}
    func read0() {}
    func setAutoRead0(_ enabled: Bool) {}

    func close0(mode: CloseMode, promise: EventLoopPromise<Void>?) {
        self.loop.assertInEventLoop()
        guard !self.closed else {
            promise?.succeed(())
            return
        }
        self.closed = true
        self.activeFlag.store(false, ordering: .releasing)
        self.loop.selector.deregister(self.registration, fd: self.fd)
        Posix.close(self.fd)
        self.fd = -1
        if let file = self.socketFile {
            // Only our own file: another server may have taken the path over since.
            if (try? UnixSocketFile.state(atPath: file.path)) == file.state {
                try? UnixSocketFile.remove(atPath: file.path)
            }
            self.socketFile = nil
        }
        self.pipeline.fireChannelInactive()
        self.pipeline.tearDown()
        promise?.succeed(())
        self.closePromise.succeed(())
    }

    func userOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError(.unsupportedOperation, "a listening channel takes no outbound events"))
    }

    func unhandledInbound(_ data: PipelineMessage) {}
    func unhandledError(_ error: any Error) {}
}
