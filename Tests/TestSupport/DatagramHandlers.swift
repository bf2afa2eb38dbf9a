public import Channels
import Foundation

/// Sends every datagram back to its sender, flushing once per read burst (one `sendmmsg`).
///
/// Loop-confined, like every handler.
public final class DatagramEchoHandler: ChannelInboundHandler {
    public typealias InboundIn = AddressedEnvelope<ByteBuffer>
    public typealias InboundOut = Never
    public typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    public init() {}

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        context.write(data, promise: nil)
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }
}

/// Records every datagram and error a datagram channel's pipeline sees, for a test to read
/// from any thread.
///
/// Thread-safe: the records are locked; the handler methods run on the channel's loop.
public final class DatagramRecorder: ChannelInboundHandler, @unchecked Sendable {
    public typealias InboundIn = AddressedEnvelope<ByteBuffer>
    public typealias InboundOut = Never

    // SAFETY: both arrays are touched only under `lock`.
    private let lock = NSLock()
    private var received: [AddressedEnvelope<ByteBuffer>] = []
    private var caught: [any Error] = []

    public init() {}

    public var datagrams: [AddressedEnvelope<ByteBuffer>] { self.lock.withLock { self.received } }
    public var errors: [any Error] { self.lock.withLock { self.caught } }

    public func channelRead(context: ChannelHandlerContext, data: PipelineMessage) {
        let datagram = self.unwrapInboundIn(data)
        self.lock.withLock { self.received.append(datagram) }
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.lock.withLock { self.caught.append(error) }
    }

    /// Waits (up to `testPatience`) until `count` datagrams arrived; returns them.
    public func waitForDatagrams(_ count: Int) async throws -> [AddressedEnvelope<ByteBuffer>] {
        guard try await poll(until: { self.datagrams.count >= count }) else {
            throw TestSupportError("\(self.datagrams.count) of \(count) datagrams arrived")
        }
        return self.datagrams
    }

    /// Waits (up to `testPatience`) until an error arrived; returns the errors.
    public func waitForError() async throws -> [any Error] {
        guard try await poll(until: { !self.errors.isEmpty }) else {
            throw TestSupportError("no error arrived")
        }
        return self.errors
    }
}

/// A UDP echo peer in Python (a real program, not this library): it binds `host` on a free
/// port and sends every datagram back to its sender until stopped.
public final class PythonDatagramEcho: Sendable {
    public let address: SocketAddress
    private let process: SpawnedProcess

    public init(host: String = "127.0.0.1") async throws {
        guard let python = findExecutable(["/usr/bin/python3", "/usr/local/bin/python3"]) else {
            throw TestSupportError("python3 is not installed")
        }
        let script = """
            import socket, sys
            host = sys.argv[1]
            s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((host, 0))
            print(s.getsockname()[1], flush=True)
            while True:
                data, peer = s.recvfrom(65535)
                s.sendto(data, peer)
            """
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("udp-echo-\(UUID()).out").path
        self.process = try SpawnedProcess(python, ["-c", script, host], standardOutput: output)
        let process = self.process
        guard try await poll(until: { Int(process.output.trimmingCharacters(in: .whitespacesAndNewlines)) != nil }),
            let port = Int(process.output.trimmingCharacters(in: .whitespacesAndNewlines))
        else {
            process.kill()
            throw TestSupportError("the Python UDP echo peer did not start")
        }
        self.address = try SocketAddress(ipAddress: host, port: port)
    }

    public func stop() {
        self.process.kill()
    }
}
