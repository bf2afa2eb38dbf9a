import Channels
import Foundation
import Glibc
import TestSupport
import Testing

@Suite("Datagram channels over real UDP sockets")
struct DatagramChannelTests {
    private static func payload(_ index: Int, size: Int = 64) -> ByteBuffer {
        var buffer = ByteBuffer(string: "datagram \(index) ")
        buffer.writeBytes(repeatElement(UInt8(truncatingIfNeeded: index), count: max(0, size - buffer.readableBytes)))
        return buffer
    }

    /// Sends `count` datagrams to `peer` from `client`, at most `window` unanswered (loopback
    /// drops only when a receive queue overflows, which a stalled process could let happen
    /// with a larger burst), and checks that each comes back once, unchanged, from `peer`.
    private static func exchange(
        _ count: Int, client: any Channel, recorder: DatagramRecorder, peer: SocketAddress, window: Int = 16
    ) async throws {
        var sent = 0
        while sent < count {
            let batch = min(window, count - sent)
            for index in sent..<(sent + batch) {
                _ = client.write(AddressedEnvelope(remoteAddress: peer, data: Self.payload(index)))
            }
            client.flush()
            sent += batch
            _ = try await recorder.waitForDatagrams(sent)
        }
        let received = recorder.datagrams
        #expect(received.count == count)
        #expect(Set(received.map(\.data)) == Set((0..<count).map { Self.payload($0) }))
        #expect(received.allSatisfy { $0.remoteAddress == peer && !$0.isTruncated })
    }

    private static func recordingClient(group: EventLoopGroup, host: String = "127.0.0.1") async throws -> (
        any Channel, DatagramRecorder
    ) {
        let recorder = DatagramRecorder()
        let client = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(recorder) }
            .bind(host: host, port: 0)
        return (client, recorder)
    }

    @Test("our echo server answers 1,000 datagrams from our client, each once and unchanged")
    func echoOverLoopback() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let server = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(DatagramEchoHandler()) }
            .bind(host: "127.0.0.1", port: 0)
        let address = try #require(server.localAddress)
        #expect(address.port != 0)
        let (client, recorder) = try await Self.recordingClient(group: group)
        try await Self.exchange(1_000, client: client, recorder: recorder, peer: address)
        try await client.close().get()
        try await server.close().get()
        #expect(!server.isActive)
    }

    @Test("a Python UDP echo peer answers our client, over IPv4 and IPv6 loopback", arguments: ["127.0.0.1", "::1"])
    func againstPythonPeer(host: String) async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let peer = try await PythonDatagramEcho(host: host)
        defer { peer.stop() }
        let (client, recorder) = try await Self.recordingClient(group: group, host: host)
        #expect(client.localAddress?.isIPv6 == (host == "::1"))
        try await Self.exchange(200, client: client, recorder: recorder, peer: peer.address)
        try await client.close().get()
    }

    @Test("a Python client's datagrams come back from our echo server (IPv6)")
    func pythonClientAgainstOurServer() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let server = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(DatagramEchoHandler()) }
            .bind(host: "::1", port: 0)
        let port = try #require(server.localAddress?.port)
        let python = try #require(findExecutable(["/usr/bin/python3", "/usr/local/bin/python3"]))
        let script = """
            import socket, sys
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
            s.settimeout(\(testPatience.nanoseconds / 1_000_000_000))
            for i in range(300):
                message = b'%d:' % i + bytes([i % 256]) * (i % 1400)
                s.sendto(message, ('::1', int(sys.argv[1])))
                reply, peer = s.recvfrom(65535)
                assert reply == message, (i, reply[:20])
            print('ok')
            """
        let output = try await runProcess(python, ["-c", script, String(port)])
        #expect(output == "ok\n")
        try await server.close().get()
    }

    @Test("recvmmsg and sendmmsg batch: 32 datagrams leave in one call and arrive in few")
    func batching() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let recorder = DatagramRecorder()
        let server = try await DatagramBootstrap(group: group)
            .channelOption(.autoRead, value: false)
            .channelOption(.maxMessagesPerRead, value: 64)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(recorder) }
            .bind(host: "127.0.0.1", port: 0)
        let client = try await DatagramBootstrap(group: group).connect(to: try #require(server.localAddress))
        var writes: [EventLoopFuture<Void>] = []
        for index in 0..<32 { writes.append(client.write(Self.payload(index))) }
        client.flush()
        for write in writes { try await write.get() }
        let sent = try await client.getOption(.datagramStatistics).get()
        #expect(sent.datagramsSent == 32)
        #expect(sent.sendCalls == 1)
        // The datagrams wait in the server's socket (not reading) until now.
        try await server.setOption(.autoRead, value: true).get()
        _ = try await recorder.waitForDatagrams(32)
        let received = try await server.getOption(.datagramStatistics).get()
        #expect(received.datagramsReceived == 32)
        #expect(received.receiveCalls < received.datagramsReceived)
        try await client.close().get()
        try await server.close().get()
    }

    @Test("a datagram longer than the receive size arrives cut and marked; an oversize write fails alone")
    func truncatedAndOversize() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let recorder = DatagramRecorder()
        let server = try await DatagramBootstrap(group: group)
            .channelOption(.datagramReceiveSize, value: 16)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(recorder) }
            .bind(host: "127.0.0.1", port: 0)
        let address = try #require(server.localAddress)
        let client = try await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0)
        // 70,000 bytes do not fit in one UDP datagram (65,507 at most over IPv4).
        let oversize = ByteBuffer(bytes: [UInt8](repeating: 7, count: 70_000))
        let refused = client.write(AddressedEnvelope(remoteAddress: address, data: oversize))
        let long = client.write(AddressedEnvelope(remoteAddress: address, data: Self.payload(1, size: 100)))
        client.flush()
        await #expect(throws: IOError.self) { try await refused.get() }
        do {
            try await refused.get()
        } catch let error as IOError {
            #expect(error.errnoCode == EMSGSIZE)
        }
        try await long.get()
        let datagram = try #require(try await recorder.waitForDatagrams(1).first)
        #expect(datagram.isTruncated)
        #expect(datagram.data == Self.payload(1, size: 100).getSlice(at: 0, length: 16))
        #expect(try await server.getOption(.datagramStatistics).get().datagramsTruncated == 1)
        #expect(try await client.getOption(.datagramStatistics).get().datagramsFailed == 1)
        #expect(client.isActive)
        try await client.close().get()
        try await server.close().get()
    }

    @Test("a connected channel hears ECONNREFUSED from a closed port as an error and stays open")
    func connectionRefused() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        // A port nobody listens on: bind one, note it, close it.
        let probe = try await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0)
        let closedPort = try #require(probe.localAddress)
        try await probe.close().get()
        let recorder = DatagramRecorder()
        let client = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(recorder) }
            .connect(to: closedPort)
        #expect(client.remoteAddress == closedPort)
        // The ICMP report arrives after the first datagram; a later write or read reports it.
        var refused = false
        for _ in 0..<100 where !refused {
            try? await client.writeAndFlush(ByteBuffer(string: "anyone?")).get()
            refused = try await poll(upTo: 3) {
                recorder.errors.contains { ($0 as? IOError)?.isConnectionRefused == true }
            }
        }
        #expect(refused)
        #expect(client.isActive)
        try await client.close().get()
    }

    @Test("wrong writes are typed errors: a bare buffer without a peer, another type, after close")
    func typedWriteErrors() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let channel = try await DatagramBootstrap(group: group).bind(host: "127.0.0.1", port: 0)
        await #expect(throws: ChannelError.self) { try await channel.writeAndFlush(ByteBuffer(string: "x")).get() }
        await #expect(throws: PipelineError.self) { try await channel.writeAndFlush("a string").get() }
        try await channel.close().get()
        try await channel.close().get()
        let address = try SocketAddress(ipAddress: "127.0.0.1", port: 9)
        do {
            try await channel.writeAndFlush(AddressedEnvelope(remoteAddress: address, data: ByteBuffer())).get()
            Issue.record("a write after close succeeded")
        } catch let error as ChannelError {
            #expect(error.code == .ioOnClosedChannel)
        }
        await #expect(throws: ChannelError.self) {
            try await DatagramBootstrap(group: group).bind(to: try SocketAddress(unixDomainSocketPath: "/tmp/x.sock"))
        }
    }

    @Test("options are set through the bootstrap and read back from the kernel")
    func options() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let channel = try await DatagramBootstrap(group: group)
            .channelOption(.reuseAddress, value: true)
            .channelOption(.receiveBufferSize, value: 256 * 1024)
            .channelOption(.sendBufferSize, value: 128 * 1024)
            .channelOption(.ipTypeOfService, value: 0x10)
            .channelOption(.datagramReceiveSize, value: 9000)
            .bind(host: "127.0.0.1", port: 0)
        #expect(try await channel.getOption(.reuseAddress).get())
        #expect(try await channel.getOption(.receiveBufferSize).get() == 512 * 1024) // the kernel doubles it
        #expect(try await channel.getOption(.sendBufferSize).get() == 256 * 1024)
        #expect(try await channel.getOption(.ipTypeOfService).get() == 0x10)
        #expect(try await channel.getOption(.datagramReceiveSize).get() == 9000)
        await #expect(throws: ChannelError.self) { try await channel.getOption(.tcpNoDelay).get() }
        // Sizes outside what a datagram can be are the caller's mistake, said as such.
        for (option, value) in [
            (ChannelOption<Int>.datagramReceiveSize, 0), (.datagramReceiveSize, 65_536),
            (.datagramSegmentSize, -1), (.datagramSegmentSize, 65_508),
        ] {
            await #expect {
                try await channel.setOption(option, value: value).get()
            } throws: { error in
                (error as? ChannelError)?.code == .invalidArgument && "\(error)".contains("not \(value)")
            }
        }
        #expect(try await channel.getOption(.datagramReceiveSize).get() == 9000)
        try await channel.close().get()
        let six = try await DatagramBootstrap(group: group).channelOption(.ipTypeOfService, value: 0x20)
            .bind(host: "::1", port: 0)
        #expect(try await six.getOption(.ipTypeOfService).get() == 0x20)
        try await six.close().get()
    }

    @Test(
        "segmentation offload: one 1,000-byte write arrives as ten 100-byte datagrams, cut by the kernel or (fallback) the channel",
        arguments: [false, true])
    func segmentationOffload(inUserSpace: Bool) async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let peer = try await PythonDatagramEcho()
        defer { peer.stop() }
        let (client, recorder) = try await Self.recordingClient(group: group)
        try await client.setOption(.datagramSegmentSize, value: 100).get()
        try await client.setOption(.datagramSegmentsInUserSpace, value: inUserSpace).get()
        #expect(try await client.getOption(.datagramSegmentsInUserSpace).get() == inUserSpace)
        let payload = ByteBuffer(bytes: (0..<1000).map { UInt8(truncatingIfNeeded: $0) })
        // The Python peer echoes each datagram it gets: ten, if the payload was cut.
        try await client.writeAndFlush(AddressedEnvelope(remoteAddress: peer.address, data: payload)).get()
        let echoes = try await recorder.waitForDatagrams(10)
        #expect(echoes.map(\.data.readableBytes) == Array(repeating: 100, count: 10))
        var joined = ByteBuffer()
        for echo in echoes { joined.writeImmutableBuffer(echo.data) }
        #expect(joined == payload)
        let sent = try await client.getOption(.datagramStatistics).get()
        #expect(sent.datagramsSent == (inUserSpace ? 10 : 1))
        // A payload of at most one segment goes as it is.
        try await client.writeAndFlush(AddressedEnvelope(remoteAddress: peer.address, data: Self.payload(1, size: 60)))
            .get()
        #expect(try await recorder.waitForDatagrams(11).last?.data == Self.payload(1, size: 60))
        try await client.close().get()
    }

    @Test("receive offload: datagrams the kernel joins (UDP_GRO) are cut back into the same envelopes")
    func receiveOffload() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let recorder = DatagramRecorder()
        let server = try await DatagramBootstrap(group: group)
            .channelOption(.datagramReceiveOffload, value: true)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(recorder) }
            .bind(host: "127.0.0.1", port: 0)
        #expect(try await server.getOption(.datagramReceiveOffload).get())
        let client = try await DatagramBootstrap(group: group)
            .channelOption(.datagramSegmentSize, value: 100)
            .connect(to: try #require(server.localAddress))
        let payload = ByteBuffer(bytes: (0..<1050).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        try await client.writeAndFlush(payload).get()
        let datagrams = try await recorder.waitForDatagrams(11)
        #expect(datagrams.map(\.data.readableBytes) == Array(repeating: 100, count: 10) + [50])
        var joined = ByteBuffer()
        for datagram in datagrams { joined.writeImmutableBuffer(datagram.data) }
        #expect(joined == payload)
        let statistics = try await server.getOption(.datagramStatistics).get()
        #expect(statistics.datagramsReceived == 11)
        // Loopback hands a segmented send to a UDP_GRO socket whole: the channel cut it.
        #expect(statistics.coalescedReceives == 1)
        try await client.close().get()
        try await server.close().get()
    }

    @Test("one socket per loop on one port (SO_REUSEPORT): 32 client sockets are all answered")
    func socketPerLoop() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let servers = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in try channel.pipeline.syncOperations.addHandler(DatagramEchoHandler()) }
            .bindOnEveryLoop(host: "127.0.0.1", port: 0)
        #expect(servers.count == 2)
        let address = try #require(servers[0].localAddress)
        #expect(servers.allSatisfy { $0.localAddress == address })
        #expect(servers[0].eventLoop !== servers[1].eventLoop)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for _ in 0..<32 {
                tasks.addTask {
                    let (client, recorder) = try await Self.recordingClient(group: group)
                    try await Self.exchange(20, client: client, recorder: recorder, peer: address, window: 4)
                    try await client.close().get()
                }
            }
            try await tasks.waitForAll()
        }
        // The kernel spread the 32 peers over both sockets (all on one: a chance of 2^-31).
        for server in servers {
            #expect(try await server.getOption(.datagramStatistics).get().datagramsReceived > 0)
            try await server.close().get()
        }
    }

    @Test("an async datagram channel: an echo task on the socket's loop, a client writing envelopes")
    func asyncEcho() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        typealias Datagram = AddressedEnvelope<ByteBuffer>
        let server = try await DatagramBootstrap(group: group)
            .bind(host: "127.0.0.1", port: 0, inbound: Datagram.self, outbound: Datagram.self)
        let address = try #require(server.channel.localAddress)
        let echo = Task {
            try await withTaskExecutorPreference(server.eventLoop) {
                try await server.executeThenClose { inbound, outbound in
                    for try await datagram in inbound { try await outbound.write(datagram) }
                }
            }
        }
        let client = try await DatagramBootstrap(group: group)
            .connect(host: "127.0.0.1", port: address.port, inbound: Datagram.self, outbound: ByteBuffer.self)
        try await client.executeThenClose { inbound, outbound in
            var replies = inbound.makeAsyncIterator()
            for index in 0..<100 {
                try await outbound.write(Self.payload(index))
                let reply = try #require(try await replies.next())
                #expect(reply.data == Self.payload(index))
                #expect(reply.remoteAddress == address)
            }
        }
        try await server.channel.close().get()
        try await echo.value
    }
}
