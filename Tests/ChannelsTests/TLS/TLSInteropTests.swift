import Channels
import TestSupport
import Testing

@Suite("TLS against openssl s_server and s_client")
struct TLSInteropTests {
    @Test("our client against openssl s_server: data both ways, 1 MiB, ALPN")
    func clientAgainstOpenSSL() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let (server, port) = try OpenSSLPeer.server(arguments: [
            "-cert", fixturePath("tls/server.pem"), "-key", fixturePath("tls/server.key"), "-alpn", "memcache",
        ])
        defer { server.stop() }
        try await server.waitUntilListening(port: port)
        let client = try await connectTLSClient(
            group: group, to: try SocketAddress(ipAddress: "127.0.0.1", port: port),
            configuration: .client(trustRoots: Certificates.ca, alpnProtocols: ["memcache"]), hostname: "127.0.0.1",
            expected: 5)
        #expect(try await client.observer.handshake.futureResult.get() == "memcache")
        // Our default preference (AES-128-GCM first) wins: OpenSSL's server follows the client's order.
        let channel = client.channel
        let suite = try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.handler(type: TLSHandler.self).cipherSuite
        }.get()
        #expect(suite == "TLS_AES_128_GCM_SHA256")
        let payload = randomBytes(count: 1 << 20, seed: 5)
        try await client.channel.writeAndFlush(ByteBuffer(bytes: payload)).get()
        #expect(sameBytes(try await server.received(atLeast: payload.count), payload))
        server.send(Array("hello".utf8))
        #expect(try await client.received.get() == Array("hello".utf8))
        try await client.channel.close().get()
    }

    @Test("our server against openssl s_client: data both ways, mTLS presented")
    func serverAgainstOpenSSL() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group,
            configuration: .server(
                certificateChain: chain, privateKey: key, clientCertificates: .required, trustRoots: Certificates.ca))
        let client = try OpenSSLPeer.client(
            port: server.server.localAddress.port,
            arguments: [
                "-CAfile", fixturePath("tls/ca.pem"), "-verify_return_error", "-verify_hostname", "localhost",
                "-cert", fixturePath("tls/client.pem"), "-key", fixturePath("tls/client.key"),
            ])
        defer { client.stop() }
        let message = Array(String(repeating: "ping ", count: 20_000).utf8)
        client.send(message)
        #expect(try await client.received(atLeast: message.count) == message)
        try await server.server.close()
    }

    @Test("openssl s_client without the required client certificate is refused, and sends nothing through")
    func serverRefusesMissingClientCertificate() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        let server = try await TLSEchoServer.start(
            group: group,
            configuration: .server(
                certificateChain: chain, privateKey: key, clientCertificates: .required, trustRoots: Certificates.ca))
        let client = try OpenSSLPeer.client(
            port: server.server.localAddress.port, arguments: ["-CAfile", fixturePath("tls/ca.pem")])
        defer { client.stop() }
        client.send(Array("secret\n".utf8))
        try await poll(every: .milliseconds(10)) { !server.observers.withLock { $0.first?.errors.isEmpty ?? true } }
        let errors = server.observers.withLock { $0.flatMap(\.errors) }
        #expect(errors.contains { $0 is TLSError }, "\(errors)")
        #expect(server.observers.withLock { $0.allSatisfy { $0.received == 0 } })
        try await server.server.close()
    }

    @Test(
        "the server sends its chain exactly as configured, never completed from the trust store",
        arguments: [
            ("server", 1), ("server-chain", 2),
        ])
    func chainAsConfigured(identity: String, certificates: Int) async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let (chain, key) = Certificates.identity("server")
        // The test CA is in the trust store (for client certificates): before the chain was
        // sent as configured, OpenSSL appended it to a leaf-only chain at every handshake.
        let server = try await TLSEchoServer.start(
            group: group,
            configuration: .server(
                certificateChain: identity == "server" ? chain : .file(fixturePath("tls/\(identity).pem")),
                privateKey: key,
                clientCertificates: .optional, trustRoots: Certificates.ca))
        let output = try await runProcess(
            "/usr/bin/openssl",
            [
                "s_client", "-connect", "127.0.0.1:\(server.server.localAddress.port)", "-showcerts",
                "-CAfile", fixturePath("tls/ca.pem"), "-verify_return_error",
            ])
        let sent = output.split(separator: "\n").filter { $0.hasPrefix("-----BEGIN CERTIFICATE") }.count
        #expect(sent == certificates, "\(output)")
        #expect(output.contains("Verify return code: 0 (ok)"), "\(output)")
        try await server.server.close()
    }
}
