public import Channels
import Glibc

/// Connects to `address`, sends `bytes` in one write, and returns every byte the server sent
/// until it closed the connection (end the bytes with `quit`). At most 10 s. A connection
/// the server closes at once yields what it said before closing.
public func exchangeUntilClose(with address: SocketAddress, sending bytes: [UInt8], group: EventLoopGroup) async throws -> [UInt8] {
    let loop = group.next()
    let done = loop.makePromise(of: [UInt8].self)
    let channel = try await ClientBootstrap(loop: loop)
        .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(ReplyCollector(done: done)) }
        .connect(to: address).get()
    // A server may answer and close before our bytes are written (a refusal): then the
    // write fails, and what it sent is still the answer.
    _ = try? await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    let timeout = loop.scheduleTask(in: .seconds(10)) { _ = channel.close() }
    defer { timeout.cancel() }
    return try await done.futureResult.get()
}

/// Collects what is read and hands it over when the channel closes.
///
/// Loop-confined.
private final class ReplyCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    private var received: [UInt8] = []
    private let done: EventLoopPromise<[UInt8]>

    init(done: EventLoopPromise<[UInt8]>) {
        self.done = done
    }

    func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        self.unwrapInboundIn(data).withUnsafeReadableBytes { self.received.append(contentsOf: $0) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.done.succeed(self.received)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A Python virtual environment under the repository's `.build-pyvenv/` with `packages`
/// installed (from PyPI, once); returns its interpreter. For tests that drive our servers
/// with clients no one here wrote.
public func pythonWithPackages(_ packages: [String]) async throws -> String {
    let root = fixturePath("").split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(separator: "/")
    let venv = root + "/.build-pyvenv"
    let python = venv + "/bin/python"
    if findExecutable([python]) == nil {
        guard let system = findExecutable(["/usr/bin/python3", "/usr/local/bin/python3"] + pathCandidates("python3")) else {
            throw TestSupportError("python3 is not installed")
        }
        _ = try await runProcess(system, ["-m", "venv", venv])
    }
    let check = "import importlib.util, sys; sys.exit(0 if all(importlib.util.find_spec(p) for p in sys.argv[1:]) else 1)"
    let modules = packages.map { $0.split(separator: "=").first.map(String.init) ?? $0 }
    if (try? await runProcess(python, ["-c", check] + modules)) == nil {
        _ = try await runProcess(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"] + packages)
    }
    return python
}

private func pathCandidates(_ name: String) -> [String] {
    (getenv("PATH").map { String(cString: $0) } ?? "").split(separator: ":").map { "\($0)/\(name)" }
}
