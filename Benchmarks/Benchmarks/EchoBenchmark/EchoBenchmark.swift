import Benchmark
import Channels

// One benchmark iteration = one round of 1,000 echoed messages (so throughput x 1,000 is
// messages/s and mallocs / 1,000 is allocations per message), through the same raw client, against this library's server and
// SwiftNIO's, in the same run. Both servers use 2 event loops. The allocations counted are
// the servers' own: the client allocates nothing per message.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal, .instructions],
        timeUnits: .microseconds,
        warmupIterations: 20,
        maxDuration: .seconds(5),
        maxIterations: 2_000
    )

    // 64 B: 10 connections x 100 in flight; 4 KiB: 50 x 20 (at most 80 KB in flight per
    // connection, well inside loopback socket buffers, so the blocking client cannot stall).
    let shapes: [EchoShape] = [
        EchoShape(name: "64 B", size: 64, connections: 10, depth: 100),
        EchoShape(name: "4 KiB", size: 4096, connections: 50, depth: 20),
        EchoShape(name: "4 KiB x 4 deep", size: 4096, connections: 16, depth: 4),
    ]
    for shape in shapes {
        for (server, label) in servers {
            register(server, label: label, name: "Echo \(shape.name)") { port in
                RawEchoClient(port: port, connections: shape.connections, messageSize: shape.size, depth: shape.depth)
            }
        }
    }
    // Ping-pong: 16 connections, one 64 B message in flight on each; 1,000 echoes a round.
    for (server, label) in servers {
        register(server, label: label, name: "Echo 64 B ping-pong, 16 connections") { port in
            RawPingPongClient(port: port, connections: 16, messageSize: 64, messagesPerRound: 1000)
        }
    }
    // A SwiftNIO client (one loop, 16 connections, 1,000 echoes a round) against the handler
    // servers: reads and writes sized as an application's are, which the raw clients hide.
    let nioClientShapes = [(64, 1), (64, 16), (4096, 4), (16384, 1)]
    for (size, depth) in nioClientShapes {
        let sizeName = size < 1024 ? "\(size) B" : "\(size / 1024) KiB"
        for (server, label) in servers where label == "Channels" || label == "SwiftNIO" {
            register(server, label: label, name: "NIO-client echo \(sizeName), depth \(depth)") { port in
                NIOEchoClient(port: port, connections: 16, messageSize: size, depth: depth, messagesPerRound: 1000)
            }
        }
    }
}

/// The servers, each registered for every shape: handler servers and async-API servers of
/// both libraries.
let servers: [(any EchoServer.Type, String)] = [
    (ChannelsEchoServer.self, "Channels"), (NIOEchoServer.self, "SwiftNIO"),
    (ChannelsAsyncEchoServer.self, "Channels async"), (NIOAsyncEchoServer.self, "SwiftNIO async"),
]

struct EchoShape: Sendable {
    let name: String
    let size: Int
    let connections: Int
    let depth: Int
}

/// The server and client of the benchmark that is running (they run one at a time).
let running = LockedValue<(server: (any EchoServer)?, client: (any EchoLoad)?)>((nil, nil))

private func register(
    _ server: any EchoServer.Type, label: String, name: String,
    client makeClient: @escaping @Sendable (_ port: Int) -> any EchoLoad
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
