import Synchronization

/// A UDP socket: reads datagrams with `recvmmsg` into the pipeline as
/// `AddressedEnvelope<ByteBuffer>`, writes a turn's datagrams with `sendmmsg`.
///
/// Thread-safe as a `Channel` (public operations hop to the loop); all state below is
/// loop-confined. Create one through `DatagramBootstrap`. Nothing a peer sends closes it: an
/// ICMP error (`ECONNREFUSED` on a connected socket) is fired as an `IOError` through the
/// pipeline, a datagram the kernel refuses (`EMSGSIZE`) fails its own write only, and a
/// datagram longer than the receive size arrives marked `isTruncated`.
// SAFETY: loop-confined state, below
final class DatagramChannel: Channel, Selectable, ChannelCore, @unchecked Sendable { // SAFETY: see above
    // SAFETY: every `var` is touched only on `loop`'s thread; cross-thread readers use the
    // atomics and the addresses, written once before `addressesKnown` is set.
    let loop: SelectableEventLoop
    private var pipelineStorage: ChannelPipeline! // SAFETY: assigned at the end of init, before self escapes
    private var fd: Int32
    /// Its place in the loop's selector, once registered.
    private var registration = SelectorRegistration.none
    private var isOpen = false
    private var isConnected = false

    // Reading
    private var autoRead = true
    private var readPending = false
    private var inputClosed = false
    /// Datagrams one `recvmmsg` may return (the `maxMessagesPerRead` option).
    private var datagramsPerCall = 16
    private var receiveSize = 2048
    /// `UDP_GRO` is on: read whole joined buffers (65,535-byte slots) and cut them.
    private var receiveOffload = false
    /// `recvmmsg` calls per readiness event, so a flood cannot starve the loop's other channels.
    private static let callsPerEvent = 4

    // Writing
    /// Touched on every send by plain value code that calls out to nothing while an access is
    /// open: the runtime's exclusivity check is off.
    @exclusivity(unchecked) private var pending = PendingDatagrams()
    private var flushing = false
    private var waitingForWritable = false
    private var outputClosed = false
    /// `datagramSegmentSize` (0: off), and whether the kernel cuts (else `write0` does).
    private var segmentSize = 0
    private var kernelSegments = true
    private var watermarks = WriteWatermarks.default
    private var writable = true

    private var interest: IOEvents = []
    private var statistics = DatagramStatistics()
    private let closePromise: EventLoopPromise<Void>
    private let activeFlag = Atomic<Bool>(false)
    private let writableFlag = Atomic<Bool>(true)
    /// Written once on the loop, before `addressesKnown` is set, and never again; read from
    /// any thread only after seeing it set. (A lock here cost three allocations, about a
    /// ninth of an idle server connection's memory.)
    private var knownLocalAddress: SocketAddress? // SAFETY: see above
    private var knownRemoteAddress: SocketAddress? // SAFETY: see above
    private let addressesKnown = Atomic<Bool>(false)

    /// Wraps `fd` (a new UDP socket), which this channel now owns.
    init(fd: Int32, loop: SelectableEventLoop) {
        self.fd = fd
        self.loop = loop
        self.closePromise = loop.makePromise(of: Void.self)
        self.pipelineStorage = ChannelPipeline(
            channel: self, core: self, eventLoop: loop, readType: AddressedEnvelope<ByteBuffer>.self,
            writeType: Any.self)
    }

    // MARK: Channel

    var eventLoop: any EventLoop { self.loop }
    var pipeline: ChannelPipeline { self.pipelineStorage }
    var isActive: Bool { self.activeFlag.load(ordering: .acquiring) }
    var isWritable: Bool { self.writableFlag.load(ordering: .acquiring) }
    var localAddress: SocketAddress? { self.addressesKnown.load(ordering: .acquiring) ? self.knownLocalAddress : nil }
    var remoteAddress: SocketAddress? {
        self.addressesKnown.load(ordering: .acquiring) ? self.knownRemoteAddress : nil
    }
    var closeFuture: EventLoopFuture<Void> { self.closePromise.futureResult }

    func readOption(_ key: ChannelOptionKey) throws -> any Sendable {
        func kernel(_ option: SocketOption) throws -> Int {
            guard self.fd >= 0 else {
                throw ChannelError(.ioOnClosedChannel, "cannot read an option of a closed channel")
            }
            return try Posix.getOption(self.fd, option)
        }
        switch key {
        case .autoRead: return self.autoRead
        case .writeWatermarks: return self.watermarks
        case .maxMessagesPerRead: return self.datagramsPerCall
        case .datagramReceiveSize: return self.receiveSize
        case .datagramSegmentSize: return self.segmentSize
        case .datagramReceiveOffload: return self.receiveOffload
        case .datagramSegmentsInUserSpace: return !self.kernelSegments
        case .datagramStatistics: return self.statistics
        case .reuseAddress: return try kernel(.reuseAddress(false)) != 0
        case .reusePort: return try kernel(.reusePort(false)) != 0
        case .receiveBufferSize: return try kernel(.receiveBufferSize(0))
        case .sendBufferSize: return try kernel(.sendBufferSize(0))
        case .ipTypeOfService: return try kernel(.typeOfService(0, ipv6: self.isIPv6))
        case .allowRemoteHalfClosure, .tcpNoDelay, .keepAlive, .lingerSeconds, .tcpKeepAlive, .tcpUserTimeout,
            .tcpNotSentLowWatermark:
            throw ChannelError(.unsupportedOperation, "a datagram channel has no option \(key)")
        }
    }

    /// Applies an option on the loop (also used by the bootstrap before binding).
    func applyOption(_ key: ChannelOptionKey, _ value: Any) throws {
        func int() -> Int { value as? Int ?? 0 }
        func set(_ option: SocketOption) throws {
            guard self.fd >= 0 else {
                throw ChannelError(.ioOnClosedChannel, "cannot set an option on a closed channel")
            }
            try Posix.setOption(self.fd, option)
        }
        switch key {
        case .autoRead:
            self.autoRead = value as? Bool ?? false
            self.updateInterest()
        case .writeWatermarks:
            if let marks = value as? WriteWatermarks { self.watermarks = marks }
            self.updateWritability()
        case .maxMessagesPerRead: self.datagramsPerCall = min(DatagramVectors.capacity, max(1, int()))
        case .datagramReceiveSize:
            guard (1...65_535).contains(int()) else {
                throw ChannelError(.invalidArgument, "a datagram receive size is 1...65535 bytes, not \(int())")
            }
            self.receiveSize = int()
        case .datagramSegmentSize:
            guard (0...65_507).contains(int()) else {
                throw ChannelError(.invalidArgument, "a datagram segment size is 0...65507 bytes, not \(int())")
            }
            self.segmentSize = int()
            if self.kernelSegments {
                do {
                    try set(.udpSegment(Int32(self.segmentSize)))
                } catch is IOError {
                    // No UDP_SEGMENT in this kernel (before 4.18): the channel cuts instead.
                    self.kernelSegments = false
                }
            }
        case .datagramSegmentsInUserSpace:
            self.kernelSegments = !(value as? Bool ?? false)
            try? set(.udpSegment(Int32(self.kernelSegments ? self.segmentSize : 0)))
        case .datagramReceiveOffload:
            let on = value as? Bool ?? false
            try set(.udpReceiveOffload(on))
            self.receiveOffload = on
        case .reuseAddress: try set(.reuseAddress(value as? Bool ?? false))
        case .reusePort: try set(.reusePort(value as? Bool ?? false))
        case .receiveBufferSize: try set(.receiveBufferSize(Int32(clamping: int())))
        case .sendBufferSize: try set(.sendBufferSize(Int32(clamping: int())))
        case .ipTypeOfService: try set(.typeOfService(Int32(clamping: int()), ipv6: self.isIPv6))
        case .tcpNoDelay:
            // Every bootstrap's default; a datagram has no Nagle delay to turn off.
            break
        case .datagramStatistics, .allowRemoteHalfClosure, .keepAlive, .lingerSeconds, .tcpKeepAlive,
            .tcpUserTimeout, .tcpNotSentLowWatermark:
            throw ChannelError(.unsupportedOperation, "a datagram channel has no settable option \(key)")
        }
    }

    private var isIPv6: Bool { Posix.localAddress(self.fd)?.isIPv6 ?? false }

    // MARK: Lifecycle (loop only)

    /// Binds to `address`, connects to `peer` when given, registers and fires `channelActive`.
    func open(boundTo address: SocketAddress, connectedTo peer: SocketAddress?) throws {
        try Posix.bind(self.fd, to: address)
        if let peer {
            _ = try Posix.connect(self.fd, to: peer)
            self.isConnected = true
        }
        self.registration = try self.loop.selector.register(self, fd: self.fd, interest: .edgeTriggered)
        self.interest = .edgeTriggered
        self.isOpen = true
        // Known before the channel reads as active.
        if !self.addressesKnown.load(ordering: .relaxed) {
            self.knownLocalAddress = Posix.localAddress(self.fd)
            self.knownRemoteAddress = peer == nil ? nil : Posix.remoteAddress(self.fd)
            self.addressesKnown.store(true, ordering: .releasing)
        }
        self.activeFlag.store(true, ordering: .releasing)
        self.updateInterest()
        self.pipeline.fireChannelActive()
    }

    func closeForShutdown() {
        self.close0(mode: .all, promise: nil)
    }

    private var wantsRead: Bool { self.isOpen && !self.inputClosed && (self.autoRead || self.readPending) }

    private func updateInterest() {
        guard self.isOpen else { return }
        var wanted: IOEvents = []
        if self.wantsRead { wanted.insert(.read) }
        if self.waitingForWritable { wanted.insert(.write) }
        if wanted.isEmpty { wanted = .edgeTriggered }
        guard wanted != self.interest else { return }
        do {
            try self.loop.selector.reregister(self.registration, fd: self.fd, interest: wanted)
            self.interest = wanted
        } catch {
            self.pipeline.fireErrorCaught(error)
            self.close0(mode: .all, promise: nil)
        }
    }

    // MARK: Readiness

    func ready(_ events: IOEvents) {
        guard self.isOpen else { return }
        if events.contains(.write) {
            self.flushNow()
        }
        guard self.isOpen else { return }
        if self.wantsRead, !events.isDisjoint(with: [.read, .error]) {
            self.readFromSocket()
        } else if events.contains(.error), let error = try? Posix.pendingError(self.fd) {
            // Not reading, but an ICMP error waits: taking it (SO_ERROR) stops the reports.
            self.pipeline.fireErrorCaught(IOError(errnoCode: error.errnoCode, call: "recvmmsg"))
        }
    }

    private func readFromSocket() {
        // Marked for an async channel's handler: a consumer it resumes now runs at this
        // burst's `channelReadComplete` (see `SelectableEventLoop.capturingResumedJob`).
        let outer = self.loop.channelInReadBurst
        self.loop.channelInReadBurst = ObjectIdentifier(self)
        defer { self.loop.channelInReadBurst = outer }
        var calls = 0
        var received = false
        var buffer = ByteBuffer()
        let receiver = self.loop.datagramReceiver
        reading: while calls < Self.callsPerEvent, self.wantsRead {
            let slot = self.receiveOffload ? 65_535 : self.receiveSize
            // Joined buffers need 64 KiB slots: fewer per call keeps the read buffer at 256 KiB.
            let count = self.receiveOffload ? min(4, self.datagramsPerCall) : self.datagramsPerCall
            let controlData = self.receiveOffload
            self.loop.prepareReadBuffer(&buffer, size: slot * count)
            var result = IOResult<Int>.wouldBlock
            do {
                let fd = self.fd
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: slot * count) { space in
                    // SAFETY: the room holds `count` slots of `slot` bytes (asked for above).
                    result = try receiver.receive(
                        fd, into: space.baseAddress!, slotSize: slot, count: count, controlData: controlData)
                    if case .processed(let arrived) = result { return arrived * slot }
                    return 0
                }
            } catch {
                // An ICMP error (the connected peer's port is closed, a host unreachable):
                // the socket is fine, the pipeline hears of it.
                self.pipeline.fireErrorCaught(error)
                break reading
            }
            guard case .processed(let arrived) = result else { break reading }
            calls += 1
            self.statistics.receiveCalls += 1
            self.statistics.datagramsReceived += arrived
            let start = buffer.readerIndex
            for index in 0..<arrived {
                let datagram = receiver.received(index)
                guard let sender = datagram.sender,
                    var payload = buffer.getSlice(at: start + index * slot, length: datagram.length)
                else { continue }
                if datagram.isTruncated { self.statistics.datagramsTruncated += 1 }
                received = true
                if let size = datagram.segmentSize, payload.readableBytes > size {
                    // Several datagrams the kernel joined (UDP_GRO): each goes on alone.
                    self.statistics.coalescedReceives += 1
                    self.statistics.datagramsReceived += (payload.readableBytes + size - 1) / size - 1
                    while payload.readableBytes > 0, self.isOpen {
                        let part = payload.readSlice(length: min(size, payload.readableBytes)) ?? ByteBuffer()
                        self.pipeline.fireChannelRead(
                            PipelineMessage(AddressedEnvelope(remoteAddress: sender, data: part)))
                    }
                } else {
                    self.pipeline.fireChannelRead(
                        PipelineMessage(
                            AddressedEnvelope(remoteAddress: sender, data: payload, isTruncated: datagram.isTruncated)))
                }
                guard self.isOpen else { break reading }
            }
            if arrived < count { break reading }
        }
        if !self.autoRead { self.readPending = false }
        if received, self.isOpen { self.pipeline.fireChannelReadComplete() }
        self.loop.recycleReadBuffer(&buffer)
        self.updateInterest()
    }

    // MARK: ChannelCore (loop only)

    func write0(_ data: PipelineMessage, promise: EventLoopPromise<Void>?) {
        self.loop.assertInEventLoop()
        guard self.isOpen else {
            promise?.fail(ChannelError(.ioOnClosedChannel, "write on a closed channel"))
            return
        }
        guard !self.outputClosed else {
            promise?.fail(ChannelError(.outputClosed, "write after the output was shut down"))
            return
        }
        let entry: PendingDatagrams.Entry
        if let envelope = data.unwrap(as: AddressedEnvelope<ByteBuffer>.self) {
            entry = .init(payload: envelope.data, destination: envelope.remoteAddress, promise: promise)
        } else if let buffer = data.buffer {
            guard self.isConnected else {
                promise?.fail(
                    ChannelError(
                        .unsupportedOperation,
                        "an unconnected datagram channel writes AddressedEnvelope<ByteBuffer> (a bare ByteBuffer has no destination)"
                    ))
                return
            }
            entry = .init(payload: buffer, destination: nil, promise: promise)
        } else {
            promise?.fail(
                PipelineError(
                    .typeMismatch,
                    "a datagram channel writes AddressedEnvelope<ByteBuffer>, not \(data.typeDescription)"))
            return
        }
        if self.segmentSize > 0, !self.kernelSegments, entry.payload.readableBytes > self.segmentSize {
            // No segmentation offload: the same datagrams, cut here; the promise goes with the last.
            var rest = entry.payload
            while rest.readableBytes > self.segmentSize, let part = rest.readSlice(length: self.segmentSize) {
                self.pending.append(.init(payload: part, destination: entry.destination, promise: nil))
            }
            self.pending.append(.init(payload: rest, destination: entry.destination, promise: entry.promise))
        } else {
            self.pending.append(entry)
        }
        self.updateWritability()
    }

    func flush0() {
        self.loop.assertInEventLoop()
        self.pending.markFlushed()
        if self.isOpen, !self.waitingForWritable {
            self.flushNow()
        }
    }

    func read0() {
        self.loop.assertInEventLoop()
        guard self.isOpen, !self.autoRead, !self.readPending else { return }
        self.readPending = true
        self.updateInterest()
    }

    func setAutoRead0(_ enabled: Bool) {
        guard self.autoRead != enabled else { return }
        self.autoRead = enabled
        self.updateInterest()
    }

    /// `.output` stops writes (what was flushed still leaves) and `.input` stops reads; a
    /// datagram socket has no half-close to send, so neither tells the peer anything.
    func close0(mode: CloseMode, promise: EventLoopPromise<Void>?) {
        self.loop.assertInEventLoop()
        switch mode {
        case .output:
            self.outputClosed = true
            promise?.succeed(())
        case .input:
            self.inputClosed = true
            self.updateInterest()
            promise?.succeed(())
        case .all:
            guard self.isOpen || self.fd >= 0 else {
                promise?.succeed(())
                return
            }
            let wasActive = self.isOpen
            self.isOpen = false
            self.activeFlag.store(false, ordering: .releasing)
            if wasActive { self.loop.selector.deregister(self.registration, fd: self.fd) }
            Posix.close(self.fd)
            self.fd = -1
            let failure = ChannelError(.ioOnClosedChannel, "the channel closed before the datagram was sent")
            for write in self.pending.removeAll() { write?.fail(failure) }
            if wasActive { self.pipeline.fireChannelInactive() }
            self.pipeline.tearDown()
            promise?.succeed(())
            self.closePromise.succeed(())
        }
    }

    func userOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        promise?.fail(
            ChannelError(.unsupportedOperation, "a datagram channel takes no outbound event \(type(of: event))"))
    }

    func unhandledInbound(_ data: PipelineMessage) {}
    func unhandledError(_ error: any Error) {}

    // MARK: Writing

    private func flushNow() {
        guard !self.flushing else { return }
        self.flushing = true
        defer { self.flushing = false }
        self.waitingForWritable = false
        let sender = self.loop.datagramSender
        var calls = 0
        while self.isOpen, self.pending.hasFlushed {
            // Yield after a few full calls so one fast writer cannot starve the loop.
            calls += 1
            if calls > 16 {
                self.waitingForWritable = true
                break
            }
            var completed: [EventLoopPromise<Void>?] = []
            swap(&completed, &self.loop.spareCompletedWrites)
            do {
                guard case .processed(let sent) = try self.pending.send(to: self.fd, using: sender) else {
                    self.waitingForWritable = true
                    swap(&completed, &self.loop.spareCompletedWrites)
                    break
                }
                self.statistics.sendCalls += 1
                self.statistics.datagramsSent += sent
                self.pending.removeSent(sent, completed: &completed)
                for promise in completed { promise?.succeed(()) }
            } catch {
                // The first datagram was refused (too long, an ICMP error waiting, no route):
                // it alone fails; the rest go on.
                self.statistics.datagramsFailed += 1
                let refused = self.pending.removeFirstFlushed()
                refused?.promise?.fail(error)
                self.pipeline.fireErrorCaught(error)
            }
            self.updateWritability()
            completed.removeAll(keepingCapacity: true)
            swap(&completed, &self.loop.spareCompletedWrites)
        }
        self.updateInterest()
    }

    private func updateWritability() {
        let buffered = self.pending.bufferedBytes
        if self.writable, buffered > self.watermarks.high {
            self.writable = false
            self.writableFlag.store(false, ordering: .releasing)
            self.pipeline.fireChannelWritabilityChanged()
        } else if !self.writable, buffered <= self.watermarks.low {
            self.writable = true
            self.writableFlag.store(true, ordering: .releasing)
            self.pipeline.fireChannelWritabilityChanged()
        }
    }
}
