import Channels
import TestSupport
import Testing

@Suite("Channel pipeline")
struct ChannelPipelineTests {
    @Test("messages flow through typed handlers in order")
    func typedFlow() throws {
        let sink = IntSink()
        let channel = try EmbeddedChannel(handlers: [BytesToString(), StringLength(), sink])
        try channel.writeInbound(ByteBuffer(string: "four"))
        try channel.writeInbound(ByteBuffer(string: "sixsix"))
        #expect(sink.seen == [4, 6])
        #expect(try channel.finish().isClean)
    }

    @Test("a handler whose input does not match its neighbour's output is rejected when added, naming both")
    func inboundMismatchRejectedAtBuild() throws {
        let channel = try EmbeddedChannel(handlers: [BytesToString()])
        #expect {
            try channel.pipeline.syncOperations.addHandler(IntSink(), name: "sink")
        } throws: { error in
            guard let error = error as? PipelineError, error.code == .typeMismatch else { return false }
            return error.message.contains("BytesToString") && error.message.contains("'sink'")
                && error.message.contains("String") && error.message.contains("Int")
        }
        #expect(try channel.finish().isClean)
    }

    @Test("a socket pipeline rejects a first handler that does not read bytes")
    func socketHeadType() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try await startEchoServer(group: group)
        let rejected = LockedValue<PipelineError?>(nil)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                do { try channel.pipeline.syncOperations.addHandler(StringLength()) } catch let error as PipelineError {
                    rejected.withLock { $0 = error }
                }
            }
            .connect(to: server.localAddress).get()
        #expect(rejected.withLock { $0?.code } == .typeMismatch)
        #expect(rejected.withLock { $0?.message.contains("ByteBuffer") } == true)
        try await channel.close().get()
        try await server.close()
    }

    @Test("an outbound mismatch is rejected when added")
    func outboundMismatch() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try await startEchoServer(group: group)
        let channel = try await ClientBootstrap(group: group).connect(to: server.localAddress).get()
        try await channel.pipeline.addHandler(StringEncoder(), name: "encoder").get()
        // Another String -> ByteBuffer encoder after it would be fed Strings by nobody, but
        // the first one takes String, and this one produces ByteBuffer: mismatch.
        await #expect(throws: PipelineError.self) {
            try await channel.pipeline.addHandler(StringEncoder(), name: "second", position: .last).get()
        }
        try await channel.close().get()
        try await server.close()
    }

    @Test("a message of another type at run time is refused with a typed error naming both handlers; nothing reads it")
    func inboundMismatchAtRunTime() throws {
        // The embedded channel's head produces `Any`, so only the message itself can tell.
        let sink = IntSink()
        let channel = try EmbeddedChannel(handlers: [StringLength(), sink])
        #expect {
            try channel.writeInbound(42)
        } throws: { error in
            guard let error = error as? PipelineError, error.code == .typeMismatch else { return false }
            return error.message.contains("passed Int to 'StringLength-1'") && error.message.contains("reads String")
        }
        try channel.writeInbound("four")
        #expect(sink.seen == [4])
        #expect(try channel.finish().isClean)
    }

    @Test("a write of another type at run time fails its promise with a typed error naming both handlers")
    func outboundMismatchAtRunTime() throws {
        let channel = try EmbeddedChannel(handlers: [StringEncoder()])
        let failure = LockedValue<(any Error)?>(nil)
        let promise = channel.eventLoop.makePromise(of: Void.self)
        promise.futureResult.whenFailure { error in failure.withLock { $0 = error } }
        channel.pipeline.syncOperations.write(42, promise: promise)
        let error = try #require(failure.withLock { $0 } as? PipelineError)
        #expect(error.code == .typeMismatch)
        #expect(error.message.contains("wrote Int to 'StringEncoder-1'") && error.message.contains("takes String"))
        #expect(throws: PipelineError.self) { try channel.throwIfErrorCaught() }
        try channel.writeOutbound("ok")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "ok"))
        #expect(try channel.finish().isClean)
    }

    @Test("removing a handler that would leave a mismatch is refused")
    func removalMismatch() throws {
        let channel = try EmbeddedChannel(handlers: [BytesToString(), StringLength()])
        try channel.pipeline.syncOperations.addHandler(IntSink(), name: "sink")
        #expect(throws: PipelineError.self) {
            try channel.pipeline.syncOperations.removeHandler(name: "StringLength-2")
        }
        try channel.pipeline.syncOperations.removeHandler(name: "sink")
        try channel.pipeline.syncOperations.removeHandler(name: "StringLength-2")
        #expect(channel.pipeline.syncOperations.handlerNames == ["BytesToString-1"])
        #expect(try channel.finish().isClean)
    }

    @Test("a handler can remove itself mid-read without losing or duplicating a message")
    func selfRemoval() throws {
        let channel = try EmbeddedChannel(handlers: [SelfRemover(after: 2)])
        for index in 0..<5 { try channel.writeInbound(ByteBuffer(string: "\(index)")) }
        var seen: [String] = []
        while var buffer = try channel.readInbound(as: ByteBuffer.self) { seen.append(buffer.readString()) }
        #expect(seen == ["0", "1", "2", "3", "4"])
        #expect(channel.pipeline.syncOperations.handlerNames.isEmpty)
        #expect(try channel.finish().isClean)
    }

    @Test("a removed handler hands over what it buffered")
    func removalForwardsBufferedBytes() throws {
        let channel = try EmbeddedChannel(handlers: [])
        try channel.pipeline.syncOperations.addHandler(HoldingPassThrough(), name: "holder")
        try channel.writeInbound(ByteBuffer(string: "a"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        try channel.pipeline.syncOperations.removeHandler(name: "holder")
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "a"))
        #expect(try channel.finish().isClean)
    }

    @Test("duplicate names and unknown anchors are typed errors")
    func namesAndAnchors() throws {
        let channel = try EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(BytesToString(), name: "a")
        #expect(throws: PipelineError.self) {
            try channel.pipeline.syncOperations.addHandler(BytesToString(), name: "a")
        }
        #expect(throws: PipelineError.self) {
            try channel.pipeline.syncOperations.addHandler(StringLength(), position: .after("missing"))
        }
        try channel.pipeline.syncOperations.addHandler(HoldingPassThrough(), name: "first", position: .before("a"))
        #expect(channel.pipeline.syncOperations.handlerNames == ["first", "a"])
        #expect(try channel.finish().isClean)
    }

    @Test("a handler that is neither inbound nor outbound is refused with a typed error, naming it")
    func notAHandler() throws {
        let channel = try EmbeddedChannel()
        #expect {
            try channel.pipeline.syncOperations.addHandler(SeesNothing(), name: "idle")
        } throws: { error in
            (error as? PipelineError)?.code == .notAHandler && "\(error)".contains("SeesNothing")
        }
        #expect(channel.pipeline.syncOperations.handlerNames.isEmpty)
        #expect(try channel.finish().isClean)
    }

    @Test(
        "both ends are one place: reads pass every handler to the channel, writes every handler to the socket, at any position"
    )
    func endsOfTheRing() throws {
        // Empty: what is read reaches the channel untouched, what is written leaves untouched.
        let channel = try EmbeddedChannel()
        try channel.writeInbound(ByteBuffer(string: "in"))
        try channel.writeOutbound(ByteBuffer(string: "out"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "in"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "out"))
        // An outbound handler added first and an inbound one added before it: each direction
        // goes through its own handlers only, and the type check sees the channel's types on
        // both sides (a String written without the encoder would not reach the socket).
        try channel.pipeline.syncOperations.addHandler(StringEncoder(), name: "encoder", position: .first)
        try channel.pipeline.syncOperations.addHandler(BytesToString(), name: "decoder", position: .first)
        #expect(channel.pipeline.syncOperations.handlerNames == ["decoder", "encoder"])
        try channel.writeInbound(ByteBuffer(string: "read"))
        try channel.writeOutbound("written")
        #expect(try channel.readInbound(as: String.self) == "read")
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "written"))
        // The last handler takes what nothing else does: an Int reader after the decoder is
        // refused (String is what reaches it), one after a length counter is not.
        #expect(throws: PipelineError.self) { try channel.pipeline.syncOperations.addHandler(IntSink()) }
        try channel.pipeline.syncOperations.addHandler(StringLength(), name: "length", position: .after("decoder"))
        try channel.writeInbound(ByteBuffer(string: "four"))
        #expect(try channel.readInbound(as: Int.self) == 4)
        try channel.pipeline.syncOperations.removeHandler(name: "length")
        try channel.pipeline.syncOperations.removeHandler(name: "decoder")
        try channel.pipeline.syncOperations.removeHandler(name: "encoder")
        try channel.writeInbound(ByteBuffer(string: "again"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "again"))
        #expect(try channel.finish().isClean)
    }

    @Test("handlers added and removed at run time while 4 MiB flow: no byte lost or duplicated")
    func addRemoveWhileDataFlows() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let accepted = group.loops[0].makePromise(of: (any Channel).self)
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                try channel.pipeline.syncOperations.addHandlers(SelfRemover(after: 3), EchoHandler())
                accepted.succeed(channel)
            }
            .bind(host: "127.0.0.1", port: 0)
        let size = 4 << 20
        let payload = randomBytes(count: size, seed: 7)
        let done = group.loops[1].makePromise(of: [UInt8].self)
        let client = try await ClientBootstrap(loop: group.loops[1])
            .channelInitializer { try $0.pipeline.syncOperations.addHandler(ByteCollector(expected: size, done: done)) }
            .connect(to: server.localAddress).get()
        // The client's connect can complete before the server ran its initializer: wait.
        let serverSide = try await accepted.futureResult.get()
        // Toggle a byte-holding handler on the server side while the client streams.
        let toggling = LockedValue(true)
        @Sendable func toggle(_ round: Int) {
            guard toggling.withLock({ $0 }) else { return }
            let operations = serverSide.pipeline.syncOperations
            if (try? operations.context(name: "holder")) != nil {
                try? operations.removeHandler(name: "holder")
            } else {
                try? operations.addHandler(HoldingPassThrough(), name: "holder", position: .first)
            }
            serverSide.eventLoop.scheduleTask(in: .microseconds(200)) { toggle(round + 1) }
        }
        serverSide.eventLoop.execute { toggle(0) }
        var offset = 0
        while offset < size {
            let length = min(4096, size - offset)
            client.write(ByteBuffer(bytes: payload[offset..<offset + length])).whenComplete { _ in }
            offset += length
            if offset % (64 * 1024) == 0 {
                try await client.writeAndFlush(ByteBuffer()).get()
            }
        }
        client.flush()
        // The last held bytes are released when the holder is removed for good.
        let tail = try await withThrowingTaskGroup(of: [UInt8].self) { tasks in
            tasks.addTask { try await done.futureResult.get() }
            try await Task.sleep(for: .milliseconds(20))
            toggling.withLock { $0 = false }
            try await serverSide.eventLoop.submit {
                try? serverSide.pipeline.syncOperations.removeHandler(name: "holder")
            }.get()
            return try await tasks.next() ?? []
        }
        #expect(tail.count == size)
        #expect(tail == payload)
        try await client.close().get()
        try await server.close()
    }
}
