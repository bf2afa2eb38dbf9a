import Benchmark
import Channels

// One iteration = 1,000 echoed 64 B datagrams (throughput × 1,000 is datagrams/s; mallocs /
// 1,000 are allocations per datagram), through the same blocking raw client, against this
// library's UDP echo server and SwiftNIO's (with its defaults, and with its recvmmsg reads
// turned on), in the same run. Every server binds one SO_REUSEPORT socket on each of 2 loops.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 20,
        maxDuration: .seconds(5),
        maxIterations: 2_000
    )
    let servers: [(any DatagramEchoServer.Type, String)] = [
        (ChannelsDatagramEchoServer.self, "Channels"), (NIODatagramEchoServer.self, "SwiftNIO"),
        (NIOVectorDatagramEchoServer.self, "SwiftNIO recvmmsg"),
    ]
    for (server, label) in servers {
        register(server, label: label, name: "UDP echo 64 B ping-pong, 16 sockets") { port in
            RawDatagramClient(port: port, sockets: 16, size: 64, depth: 1, perRound: 1000)
        }
        register(server, label: label, name: "UDP echo 64 B, 16 sockets x 16 in flight") { port in
            RawDatagramClient(port: port, sockets: 16, size: 64, depth: 16, perRound: 1024)
        }
    }
}

/// What every server offers the benchmark.
protocol DatagramEchoServer: Sendable {
    static func start(loops: Int) async throws -> Self
    var port: Int { get }
    func stop() async throws
}

let running = LockedValue<(server: (any DatagramEchoServer)?, client: RawDatagramClient?)>((nil, nil))

private func register(
    _ server: any DatagramEchoServer.Type, label: String, name: String,
    client makeClient: @escaping @Sendable (_ port: Int) -> RawDatagramClient
) {
    Benchmark("\(name) / \(label) server") { benchmark in
        guard let client = running.withLock({ $0.client }) else {
            benchmark.error("no client")
            return
        }
        benchmark.startMeasurement()
        let intact = client.round()
        benchmark.stopMeasurement()
        if !intact { benchmark.error("an echo came back different from what was sent") }
    } setup: {
        let started = try await server.start(loops: 2)
        running.withLock { $0 = (started, makeClient(started.port)) }
    } teardown: {
        let state = running.withLock { state in
            defer { state = (nil, nil) }
            return state
        }
        try await state.server?.stop()
    }
}
