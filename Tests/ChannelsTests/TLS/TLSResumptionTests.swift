import Channels
import TestSupport
import Testing

@Suite("TLS session resumption")
struct TLSResumptionTests {
    /// Connects with `context`, waits for one echoed byte (by then a TLS 1.3 ticket has
    /// arrived too), and returns whether the handshake resumed a session.
    private func connectOnce(
        group: EventLoopGroup, to address: SocketAddress, context: TLSContext, hostname: String = "localhost",
        sending request: [UInt8] = [42]
    ) async throws -> Bool {
        let loop = group.next()
        let handler = LockedValue<TLSHandler?>(nil)
        let echoed = loop.makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(loop: loop)
            .channelInitializer { channel in
                let tls = try TLSHandler(context: context, serverHostname: hostname)
                handler.withLock { $0 = tls }
                try channel.pipeline.syncOperations.addHandlers(tls, ByteCollector(expected: 1, done: echoed))
            }
            .connect(to: address).get()
        // Not awaited: when the handshake fails, the reply's failure carries the TLSError.
        channel.writeAndFlush(ByteBuffer(bytes: request)).whenComplete { _ in }
        #expect(try await !echoed.futureResult.get().isEmpty)
        let reused = try await loop.submit { handler.withLock { $0?.isSessionReused ?? false } }.get()
        try await channel.close().get()
        return reused
    }

    @Test("a second connection through the same context resumes the first one's session", arguments: [false, true])
    func resumes(tls12: Bool) async throws {
        let group = try EventLoopGroup(loopCount: 2)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group, configuration: .server(certificateChain: chain, privateKey: key))
        var configuration = TLSConfiguration.client(trustRoots: Certificates.ca)
        configuration.resumesSessions = true
        if tls12 { configuration.maximumVersion = .tls12 }
        let context = try TLSContext.patient(configuration: configuration)
        #expect(try await self.connectOnce(group: group, to: server.server.localAddress, context: context) == false)
        #expect(try await self.connectOnce(group: group, to: server.server.localAddress, context: context) == true)
        #expect(try await self.connectOnce(group: group, to: server.server.localAddress, context: context) == true)
        try await server.server.close()
    }

    @Test("with mutual TLS sessions resume too (the server names its session context)")
    func resumesWithClientCertificates() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group,
            configuration: .server(
                certificateChain: chain, privateKey: key, clientCertificates: .required, trustRoots: Certificates.ca))
        let (clientChain, clientKey) = Certificates.identity("client")
        var configuration = TLSConfiguration.client(
            trustRoots: Certificates.ca, certificateChain: clientChain, privateKey: clientKey)
        configuration.resumesSessions = true
        let context = try TLSContext.patient(configuration: configuration)
        #expect(try await self.connectOnce(group: group, to: server.server.localAddress, context: context) == false)
        #expect(try await self.connectOnce(group: group, to: server.server.localAddress, context: context) == true)
        try await server.server.close()
    }

    @Test("with resumesSessions off (the default) every handshake is a full one")
    func off() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group, configuration: .server(certificateChain: chain, privateKey: key))
        let context = try TLSContext.patient(configuration: .client(trustRoots: Certificates.ca))
        #expect(try await self.connectOnce(group: group, to: server.server.localAddress, context: context) == false)
        #expect(try await self.connectOnce(group: group, to: server.server.localAddress, context: context) == false)
        try await server.server.close()
    }

    @Test("a session is only offered to the server name it was made with")
    func perServerName() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group, configuration: .server(certificateChain: chain, privateKey: key))
        var configuration = TLSConfiguration.client(trustRoots: Certificates.ca)
        configuration.resumesSessions = true
        let context = try TLSContext.patient(configuration: configuration)
        #expect(try await self.connectOnce(group: group, to: server.server.localAddress, context: context) == false)
        // The same server under its other name (127.0.0.1 is in its certificate too): a new session.
        let address = server.server.localAddress
        #expect(try await self.connectOnce(group: group, to: address, context: context, hostname: "127.0.0.1") == false)
        #expect(try await self.connectOnce(group: group, to: address, context: context, hostname: "127.0.0.1") == true)
        try await server.server.close()
    }

    @Test(
        "memcached -Z: sessions resume; with ssl_verify_mode=2 it refuses a resumption, and the next connection is a full handshake"
    )
    func memcached() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let version = Array("version\r\n".utf8)
        let plain = try await MemcachedServer(arguments: MemcachedServer.tlsArguments, group: group)
        var configuration = TLSConfiguration.client(trustRoots: Certificates.ca)
        configuration.resumesSessions = true
        let context = try TLSContext.patient(configuration: configuration)
        #expect(
            try await self.connectOnce(group: group, to: plain.address, context: context, sending: version) == false)
        #expect(try await self.connectOnce(group: group, to: plain.address, context: context, sending: version) == true)
        plain.stop()

        // memcached verifies client certificates without a session id context: OpenSSL then
        // refuses any resumption attempt with an internal_error alert.
        let mutual = try await MemcachedServer(
            arguments: [
                "-Z", "-o",
                MemcachedServer.tlsArguments[2] + ",ssl_ca_cert=\(fixturePath("tls/ca.pem")),ssl_verify_mode=2",
            ],
            group: group)
        let (clientChain, clientKey) = Certificates.identity("client")
        var mutualConfiguration = TLSConfiguration.client(
            trustRoots: Certificates.ca, certificateChain: clientChain, privateKey: clientKey)
        mutualConfiguration.resumesSessions = true
        let mutualContext = try TLSContext.patient(configuration: mutualConfiguration)
        #expect(
            try await self.connectOnce(group: group, to: mutual.address, context: mutualContext, sending: version)
                == false)
        await #expect(throws: TLSError.self) {
            _ = try await self.connectOnce(group: group, to: mutual.address, context: mutualContext, sending: version)
        }
        #expect(
            try await self.connectOnce(group: group, to: mutual.address, context: mutualContext, sending: version)
                == false)
        mutual.stop()
    }
}
