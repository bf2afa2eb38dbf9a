import Channels
import Codecs
import MemcacheClient
import MemcacheServer
import Pool
import TestSupport
import Testing

@Suite("TLS contexts replaced while running: the embedded server's certificate, a pool's trust roots")
struct TLSReloadTests {
    static func serverContext(_ chain: String, _ key: String) throws -> TLSContext {
        try TLSContext.patient(
            configuration: .server(certificateChain: .file(fixturePath(chain)), privateKey: .file(fixturePath(key))))
    }

    static func clientContext(trusting roots: String) throws -> TLSContext {
        try TLSContext.patient(configuration: .client(trustRoots: .file(fixturePath(roots))))
    }

    @Test(
        "the server moves to a certificate the pool does not trust: new connections fail until the pool's CA bundle is replaced; open ones live on"
    )
    func trustFollowsRotation() async throws {
        let fixture = try await EmbeddedServerFixture {
            $0.tls = try! Self.serverContext("tls/server-chain.pem", "tls/server.key")
        }
        var configuration = MemcachePool.Configuration(
            host: "127.0.0.1", port: fixture.port, maxConnections: 1,
            tls: try Self.clientContext(trusting: "tls/ca.pem"))
        configuration.serverHostname = "localhost"
        waitPatiently(&configuration)
        // One loop: with two, the pool may move its one connection to the other loop (a new
        // connection), and this test needs the first connection to live on.
        let clients = try EventLoopGroup(loopCount: 1)
        let pool = MemcachePool(configuration: configuration, group: clients)
        try await pool.set("k", to: ByteBuffer(string: "v"))

        // The server rotates to a self-signed certificate; the pool's one connection lives on.
        try fixture.server.replaceTLS(with: Self.serverContext("tls/self-signed.pem", "tls/self-signed.key"))
        #expect(try await pool.get("k") == ByteBuffer(string: "v"))
        #expect(await pool.statistics().total.created == 1)

        // A new connection (a second pool with the old bundle) does not trust the new certificate.
        let stale = MemcachePool(configuration: configuration, group: clients)
        await #expect {
            _ = try await stale.get("k")
        } throws: { error in
            (error as? MemcacheError)?.code == .tlsFailure
        }
        // The new bundle in place, a new connection trusts the server again.
        stale.replaceTLS(with: try Self.clientContext(trusting: "tls/self-signed.pem"))
        var trusted = false
        // The breaker opened on the failed handshake: the next probe after its backoff connects.
        for _ in 0..<6000 where !trusted {
            trusted = (try? await stale.get("k")) == ByteBuffer(string: "v")
            if !trusted { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(trusted)

        await stale.shutdown()
        await pool.shutdown()
        try await clients.shutdownGracefully()
        try await fixture.stop()
    }

    @Test("a server started without TLS refuses to switch to it")
    func plainStaysPlain() async throws {
        let fixture = try await EmbeddedServerFixture()
        #expect(throws: MemcacheError.self) {
            try fixture.server.replaceTLS(with: Self.serverContext("tls/server-chain.pem", "tls/server.key"))
        }
        try await fixture.stop()
    }

    @Test("a key that does not match its certificate never becomes a context (so nothing is replaced)")
    func mismatchedKey() throws {
        #expect(throws: TLSError.self) { _ = try Self.serverContext("tls/server-rotated-chain.pem", "tls/server.key") }
    }
}
