import Channels
import Codecs
import MemcacheClient
import MemcacheServer
import Pool
import TestSupport
import Testing

/// A server that asks for ASCII authentication: memcached `-Y`, or the embedded server.
private struct AuthenticatingServer: Sendable {
    let group: EventLoopGroup
    let port: Int
    let stop: @Sendable () async throws -> Void

    static let users = [try! MemcacheCredentials(username: "app", password: "s3cret")]

    static func start(_ kind: String) async throws -> AuthenticatingServer {
        if kind == "memcached" {
            let group = try EventLoopGroup(loopCount: 2)
            let memcached = try await MemcachedServer(users: Self.users, group: group)
            return AuthenticatingServer(group: group, port: memcached.port) {
                memcached.stop()
                try await group.shutdownGracefully()
            }
        }
        let fixture = try await EmbeddedServerFixture { $0.authenticator = MemcacheAuthenticator(Self.users) }
        return AuthenticatingServer(group: fixture.group, port: fixture.port) { try await fixture.stop() }
    }

    func pool(_ credentials: MemcacheCredentials?, maxConnections: Int = 4) -> MemcachePool {
        var configuration = MemcachePool.Configuration(
            host: "127.0.0.1", port: self.port, maxConnections: maxConnections)
        configuration.credentials = credentials
        waitPatiently(&configuration)
        return MemcachePool(configuration: configuration, group: self.group)
    }
}

@Suite(
    "ASCII authentication from the client, against memcached -Y and the embedded server",
    .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct AuthenticationTests {
    @Test(
        "credentials on every new connection: 200 concurrent calls over 4 connections all succeed",
        arguments: ["memcached", "embedded"])
    func authenticatedPool(server kind: String) async throws {
        let server = try await AuthenticatingServer.start(kind)
        let pool = server.pool(AuthenticatingServer.users[0])
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await pool.set("k\(index)", to: ByteBuffer(string: "v\(index)"))
                    #expect(try await pool.get("k\(index)") == ByteBuffer(string: "v\(index)"))
                }
            }
            try await group.waitForAll()
        }
        #expect(try await pool.getMany(["k1", "k2", "absent"]).count == 2)
        let statistics = await pool.statistics().total
        #expect(statistics.created >= 1 && statistics.created <= 4)
        #expect(statistics.connectFailures == 0)
        // The authentication key never holds a readable value.
        #expect(try await pool.get(MemcacheCredentials.authenticationKey) == nil)
        await pool.shutdown()
        try await server.stop()
    }

    @Test(
        "a wrong password is a typed error with the server's words, every time, and no connection is kept",
        arguments: ["memcached", "embedded"])
    func wrongPassword(server kind: String) async throws {
        let server = try await AuthenticatingServer.start(kind)
        let pool = server.pool(try MemcacheCredentials(username: "app", password: "wrong"))
        for attempt in 0..<3 {
            do {
                _ = try await pool.get("k")
                Issue.record("attempt \(attempt): a wrong password was let in")
            } catch let error as MemcacheError {
                #expect(error.code == .authenticationFailed, "attempt \(attempt): \(error)")
                #expect(error.message.contains("CLIENT_ERROR authentication failure"), "\(error)")
                #expect(!error.description.contains("wrong"), "the password is never in an error")
            }
        }
        #expect(await pool.statistics().total.open == 0)
        await pool.shutdown()
        try await server.stop()
    }

    @Test("no credentials: each request is refused as unauthenticated, typed", arguments: ["memcached", "embedded"])
    func noCredentials(server kind: String) async throws {
        let server = try await AuthenticatingServer.start(kind)
        let pool = server.pool(nil)
        await #expect(throws: MemcacheError(.authenticationFailed, "unauthenticated")) { try await pool.get("k") }
        await #expect(throws: MemcacheError(.authenticationFailed, "unauthenticated")) {
            try await pool.set("k", to: ByteBuffer(string: "v"))
        }
        await pool.shutdown()
        try await server.stop()
    }

    @Test("one connection: MemcacheConnection.connect authenticates, or throws the refusal")
    func connection() async throws {
        let server = try await AuthenticatingServer.start("memcached")
        let connection = try await MemcacheConnection.connect(
            host: "127.0.0.1", port: server.port, group: server.group, credentials: AuthenticatingServer.users[0])
        try await connection.set("k", to: ByteBuffer(string: "v"))
        #expect(try await connection.get("k") == ByteBuffer(string: "v"))
        try await connection.close()
        await #expect {
            _ = try await MemcacheConnection.connect(
                host: "127.0.0.1", port: server.port, group: server.group,
                credentials: try MemcacheCredentials(username: "app", password: "nope"))
        } throws: { error in
            (error as? MemcacheError)?.code == .authenticationFailed
        }
        try await server.stop()
    }

    @Test("a server set does not eject a server for refusing the credentials (a configuration error, not an outage)")
    func serverSetKeepsServer() async throws {
        let server = try await AuthenticatingServer.start("embedded")
        let set = MemcacheServerSet(
            servers: [.init(host: "127.0.0.1", port: server.port)], group: server.group, failurePolicy: .rehash
        ) { configuration in
            configuration.credentials = try! MemcacheCredentials(username: "app", password: "wrong")
            waitPatiently(&configuration)
        }
        for _ in 0..<5 {
            await #expect {
                _ = try await set.get("k")
            } throws: { error in
                (error as? MemcacheError)?.code == .authenticationFailed
            }
        }
        let statistics = await set.statistics()
        #expect(statistics.servers[0].state == .active)
        #expect(statistics.servers[0].ejections == 0)
        await set.shutdown()
        try await server.stop()
    }
}

@Suite("MemcacheCredentials and memcached's authfile")
struct CredentialsTests {
    @Test("names and passwords the exchange can carry; the password never printed")
    func validation() throws {
        let credentials = try MemcacheCredentials(username: "app", password: "p:ss/wörd")
        #expect("\(credentials)" == "app:***")
        for (user, password) in [
            ("", "x"), ("a", ""), ("a b", "x"), ("a", "x y"), ("a:b", "x"), ("a", "x\n"), ("a\u{7F}", "x"),
        ] {
            #expect(throws: MemcacheError.self, "\(user.debugDescription) \(password.debugDescription)") {
                _ = try MemcacheCredentials(username: user, password: password)
            }
        }
        guard case .store(let store) = credentials.authenticationRequest else {
            Issue.record("not a store")
            return
        }
        #expect(store.mode == .set && store.ttl == -1 && store.value == ByteBuffer(string: "app p:ss/wörd"))
    }

    @Test("authfile lines: user:password, CRLF, blank lines; a bad line named, its password not")
    func authFile() throws {
        let users = try MemcacheCredentials.parseAuthFile("alice:secret\r\nbob:pa:ss\n\ncarol:x")
        #expect(users.map(\.username) == ["alice", "bob", "carol"])
        #expect(users.map(\.password) == ["secret", "pa:ss", "x"])
        #expect(throws: MemcacheError(.invalidArgument, "authfile line 2 is not user:password")) {
            _ = try MemcacheCredentials.parseAuthFile("alice:secret\nhunter2\n")
        }
        do {
            _ = try MemcacheCredentials.parseAuthFile("alice:two words\n")
            Issue.record("a password with a space was accepted")
        } catch let error as MemcacheError {
            #expect(error.message.hasPrefix("authfile line 1:"))
            #expect(!error.message.contains("two words"))
        }
    }

    @Test("the decoder types memcached's two authentication replies, and only those")
    func decoderCodes() throws {
        var decoder = MemcacheResponseDecoder()
        var buffer = ByteBuffer(
            string:
                "CLIENT_ERROR unauthenticated\r\nCLIENT_ERROR authentication failure\r\nCLIENT_ERROR bad data chunk\r\n"
        )
        var codes: [MemcacheError.Code] = []
        while let response = try decoder.decode(buffer: &buffer) {
            if case .error(let error) = response { codes.append(error.code) }
        }
        #expect(codes == [.authenticationFailed, .authenticationFailed, .clientError])
    }
}
