import Channels
import TestSupport
import Testing

/// Resumes the task waiting for the next reply from `channelRead`, as a protocol client's
/// handler resumes its caller.
final class ReplyResumer: ChannelInboundHandler, @unchecked Sendable { // SAFETY: the waiter is under a lock
    typealias InboundIn = ByteBuffer
    typealias InboundOut = Never

    private let waiter = LockedValue<CheckedContinuation<String, Never>?>(nil)

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        let text = String(buffer: self.unwrapInboundIn(data))
        self.waiter.withLock { waiting in
            defer { waiting = nil }
            return waiting
        }?.resume(returning: text)
    }

    /// Registers the caller, then runs `send` (whose reply resumes it).
    func reply(after send: () -> Void) async -> String {
        await withCheckedContinuation { continuation in
            self.waiter.withLock { $0 = continuation }
            send()
        }
    }
}

/// The checks, run in a process of their own: the hook is process-wide, and a test task the
/// hook moved onto a loop would change how every other test in the suite's process runs.
enum ResumedTasksOnLoopsCheck {
    static func run() async throws {
        // snippet: channels-keep-resumed-tasks
        EventLoopGroup.keepResumedTasksOnLoops()
        // end snippet
        // True again: the hook in place is this library's.
        guard EventLoopGroup.keepResumedTasksOnLoops() else { throw TestSupportError("the hook was not installed") }
        let group = try EventLoopGroup(loopCount: 2)
        let server = try await startEchoServer(group: group)
        let resumer = ReplyResumer()
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(resumer) }
            .connect(to: server.localAddress).get()
        let loop = channel.eventLoop

        // Resumed by the read of its reply: the task goes on on the connection's loop.
        var onLoop = 0
        // The ping leaves from the loop 20 ms after the task registered: a reply that arrived
        // before the task had suspended would resume nothing (the task goes on where it is);
        // TSan CI saw that once, in 1 round of 200, with the ping written at once.
        for round in 0..<200 {
            let reply = await resumer.reply {
                loop.scheduleTask(in: .milliseconds(20)) {
                    _ = channel.writeAndFlush(ByteBuffer(string: "ping \(round)"))
                }
            }
            guard reply == "ping \(round)" else { throw TestSupportError("round \(round) read \(reply)") }
            if loop.inEventLoop { onLoop += 1 }
        }
        guard onLoop == 200 else { throw TestSupportError("\(onLoop) of 200 replies resumed the task on the loop") }

        // Resumed by the loop outside any read (a task the loop runs, a timer): the task goes
        // to the global executor, as without the hook.
        var offLoop = 0
        for _ in 0..<50 {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                loop.execute { continuation.resume() }
            }
            if !loop.inEventLoop { offLoop += 1 }
            _ = try await loop.scheduleTask(in: .milliseconds(1)) {}.futureResult.get()
            if !loop.inEventLoop { offLoop += 1 }
        }
        guard offLoop == 100 else {
            throw TestSupportError("\(100 - offLoop) of 100 resumptions outside reads stayed on the loop")
        }

        try await channel.close().get()
        try await server.close()
        try await group.shutdownGracefully()
    }
}

@Suite("Tasks resumed on the loops (EventLoopGroup.keepResumedTasksOnLoops)")
struct ResumedTasksOnLoopsTests {
    @Test("a plain task resumed by a read goes on on that loop; resumed by anything else, on the global executor")
    func placement() async {
        // The child reports a failed check on its standard output (an exit test's result is
        // only returned when the process exits as expected).
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            do {
                try await ResumedTasksOnLoopsCheck.run()
                print("check passed")
            } catch {
                print("check failed: \(error)")
            }
        }
        let output = result.map { String(decoding: $0.standardOutputContent, as: UTF8.self) } ?? ""
        #expect(output.hasSuffix("check passed\n"), "\(output)")
    }
}
