import Channels
import Codecs
import Foundation
import MemcacheClient
import MemcacheServer
import Pool
import TestSupport
import Testing

@Suite("Embedded server against foreign clients and memcached itself")
struct EmbeddedServerTests {
    @Test("libmemcached's conformance tester (memccapable -a): all 27 ASCII tests pass")
    func memccapable() async throws {
        let tool = try #require(
            findExecutable(["/usr/bin/memccapable", "/usr/bin/memcapable"]), "libmemcached-tools is not installed")
        let fixture = try await EmbeddedServerFixture()
        // Its own I/O timeout is testPatience too: a sanitizer's stall outlasted the default
        // (two of its tests failed with ETIMEDOUT in a TSan run).
        let patience = "\(testPatience.nanoseconds / 1_000_000_000)"
        let output = try await runProcess(
            tool, ["-a", "-t", patience, "-h", "127.0.0.1", "-p", "\(fixture.port)", "-v"])
        let passed = output.split(separator: "\n").filter { $0.hasSuffix("[pass]") }
        #expect(passed.count == 27, "\(output)")
        #expect(output.contains("All tests passed"), "\(output)")
        try await fixture.stop()
    }

    @Test("pymemcache (a Python client) runs set, get, gets, cas, incr, delete and more against it")
    func pymemcache() async throws {
        let python = try await pythonWithPackages(["pymemcache==4.0.0"])
        let fixture = try await EmbeddedServerFixture()
        let script = """
            import sys
            from pymemcache.client.base import Client
            c = Client(("127.0.0.1", int(sys.argv[1])), connect_timeout=120, timeout=120)  # far beyond a sanitizer stall (5 s timed out in CI)
            assert c.set("k", b"v1") is True
            assert c.get("k") == b"v1"
            value, cas = c.gets("k")
            assert value == b"v1" and cas is not None
            assert c.cas("k", b"v2", cas) is True
            assert c.cas("k", b"v3", cas) is False
            assert c.get("k") == b"v2"
            assert c.add("k", b"x", noreply=False) is False
            assert c.replace("k", b"v4", noreply=False) is True
            assert c.append("k", b"!", noreply=False) is True
            assert c.prepend("k", b"<", noreply=False) is True
            assert c.get("k") == b"<v4!"
            assert c.set("n", b"41") is True
            assert c.incr("n", 1) == 42
            assert c.decr("n", 50) == 0
            assert c.incr("absent", 1) is None
            assert c.get_many(["k", "n", "absent"]) == {"k": b"<v4!", "n": b"0 "}
            assert c.touch("k", 100, noreply=False) is True
            assert c.delete("k", noreply=False) is True
            assert c.delete("k", noreply=False) is False
            assert c.get("k") is None
            c.set("big", b"x" * 500000)
            assert c.get("big") == b"x" * 500000
            assert int(c.stats()[b"curr_connections"]) >= 1
            assert c.version().startswith(b"1.6")
            c.flush_all()
            assert c.get("n") is None
            print("ok")
            """
        let output = try await runProcess(python, ["-c", script, "\(fixture.port)"])
        #expect(output.trimmingCharacters(in: .whitespacesAndNewlines) == "ok")
        try await fixture.stop()
    }

    @Test("the same command script gets the same replies from memcached 1.6.18 and from the embedded server")
    func sameRepliesAsMemcached() async throws {
        let fixture = try await EmbeddedServerFixture()
        let memcached = try await MemcachedServer(group: fixture.group)
        let script = Self.conformanceScript
        let theirs = try await exchangeUntilClose(with: memcached.address, sending: script, group: fixture.group)
        let ours = try await exchangeUntilClose(
            with: fixture.server.localAddress, sending: script, group: fixture.group)
        let expected = Self.normalized(theirs)
        let actual = Self.normalized(ours)
        #expect(expected.count > 80, "the script exercises every command family")
        #expect(actual.count == expected.count)
        for (line, (mine, memcacheds)) in zip(actual, expected).enumerated() where mine != memcacheds {
            Issue.record("reply line \(line): ours \"\(mine)\", memcached's \"\(memcacheds)\"")
        }
        memcached.stop()
        try await fixture.stop()
    }

    /// Commands of every family, including errors, quiet modes and the recache protocol.
    static var conformanceScript: [UInt8] {
        let tooLarge = String(repeating: "x", count: 2 << 20)
        let text = """
            set a 5 0 3\nabc\nget a\nadd a 0 0 1\nx\nadd b 0 0 1\ny\nreplace c 0 0 1\nz\n\
            append a 0 0 2\nde\nprepend a 0 0 1\n_\nget a b c\ngets a\n\
            cas a 0 0 1 999999\nq\ncas nope 0 0 1 1\nq\n\
            delete a\ndelete a\ndelete b noreply\nget b\n\
            set n 0 0 2\n10\ndecr n 1\nget n\nincr n 18446744073709551615\nincr s 1\nset s 0 0 1\nx\nincr s 1\n\
            set t 0 0 1\nt\ntouch t 100\ntouch nope 1\ngat 100 t\ngats 100 nope\n\
            set huge 0 0 \(tooLarge.utf8.count)\n\(tooLarge)\nget huge\n\
            bogus\nflush_all 0\nget t\nverbosity 1\nverbosity foo bar my\nverbosity noreply\nverbosity 0 noreply\n\
            version foo bar\nverbosity\n\
            ms m 5 T100 F9\nhello\nmg m s v f k Oabc\nmg nope v q\nmg nope v k Ox\nmn\n\
            ms a2 1 ME\nx\nms a2 1 ME\ny\nms nope 1 MR\nz\nms nope 1 MA\nz\nms a2 1 MA q\nz\nmg a2 v\n\
            mg a2 v f c s t k\nmg a2\nmg nope2 k s\nset sn 7 0 2 noreply\nhi\nget sn a2 nope sn\ngets sn\n\
            ms gone 1 C5\nq\nmd a2 q\nmd a2 q\nmd a2\nmn\n\
            ma c\nma c N0 J10 v\nma c MD D3 v\nma c q\nma c v\nms s2 1\nx\nma s2\n\
            mg hot v N30\nmg hot v N30\nms hot 3\nabc\nmd hot I\nmg hot v\nmg hot v\n\
            ms AAE= 2 b\nhi\nmg AAE= b k v\n\
            quit\n
            """
        return Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8)
    }

    /// Reply lines with CAS values and versions masked (they are each server's own).
    static func normalized(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).components(separatedBy: "\r\n").map { line in
            var tokens = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            if tokens.first == "VALUE", tokens.count == 5 { tokens[4] = "<cas>" }
            if tokens.first == "VERSION" { tokens = ["VERSION", "<version>"] }
            if ["HD", "VA", "EN", "NS", "EX", "NF"].contains(tokens.first ?? "") {
                tokens = tokens.map {
                    $0.first == "c" && $0.dropFirst().allSatisfy(\.isNumber) && $0.count > 1 ? "c<cas>" : $0
                }
            }
            return tokens.joined(separator: " ")
        }
    }

    @Test("a client sending garbage or an endless line is answered or dropped; another client never notices")
    func garbageIsolated() async throws {
        let fixture = try await EmbeddedServerFixture()
        let pool = MemcachePool(configuration: .patient(port: fixture.port), group: fixture.group)
        try await pool.set("steady", to: ByteBuffer(string: "value"))
        // Unknown commands and bad lines: memcached's errors, and the connection goes on.
        let junk = Array("\u{1}\u{2}garbage\r\nset k 0 0 nope\r\nget\r\nversion\r\nquit\r\n".utf8)
        let reply = String(
            decoding: try await exchangeUntilClose(
                with: fixture.server.localAddress, sending: junk, group: fixture.group), as: UTF8.self)
        #expect(
            reply
                == "ERROR\r\nCLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\nVERSION 1.6.18-mcpool\r\n"
        )
        // A line that never ends cannot be resynchronised: that connection is closed.
        let endless = [UInt8](repeating: UInt8(ascii: "a"), count: InProcessMemcacheServer.maximumLineLength + 1024)
        let cutOff = String(
            decoding: try await exchangeUntilClose(
                with: fixture.server.localAddress, sending: endless, group: fixture.group), as: UTF8.self)
        #expect(cutOff.hasPrefix("CLIENT_ERROR"), "\(cutOff)")
        #expect(try await pool.get("steady") == ByteBuffer(string: "value"))
        await pool.shutdown()
        try await fixture.stop()
    }

    @Test("past --max-connections a client is told so and closed; the others go on")
    func connectionLimit() async throws {
        let fixture = try await EmbeddedServerFixture { $0.maximumConnections = 2 }
        let first = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        let second = try await MemcacheConnection.connect(host: "127.0.0.1", port: fixture.port, group: fixture.group)
        try await first.set("k", to: ByteBuffer(string: "v"))
        let refused = String(
            decoding: try await exchangeUntilClose(
                with: fixture.server.localAddress, sending: Array("version\r\n".utf8), group: fixture.group),
            as: UTF8.self)
        #expect(refused == "SERVER_ERROR Too many open connections\r\n")
        #expect(try await second.get("k") == ByteBuffer(string: "v"))
        try await first.close()
        try await second.close()
        try await fixture.stop()
    }

    @Test("over TLS: the pool's commands work against the embedded server started with a certificate")
    func tls() async throws {
        let serverTLS = try TLSContext.patient(
            configuration: .server(
                certificateChain: .file(fixturePath("tls/server-chain.pem")),
                privateKey: .file(fixturePath("tls/server.key"))))
        let fixture = try await EmbeddedServerFixture { $0.tls = serverTLS }
        let clientTLS = try TLSContext.patient(configuration: .client(trustRoots: .file(fixturePath("tls/ca.pem"))))
        let pool = MemcachePool(configuration: .patient(port: fixture.port, tls: clientTLS), group: fixture.group)
        try await pool.set("secret", to: ByteBuffer(string: "kept"))
        #expect(try await pool.get("secret") == ByteBuffer(string: "kept"))
        #expect(try await pool.increment("absent") == nil)
        await pool.shutdown()
        try await fixture.stop()
    }
}

extension MemcachePool.Configuration {
    /// Two connections to the local `port`, with timeouts no sanitizer stall reaches.
    static func patient(port: Int, tls: TLSContext? = nil) -> Self {
        var configuration = Self(host: "127.0.0.1", port: port, maxConnections: 2, tls: tls)
        configuration.responseTimeout = testPatience
        configuration.pool.leaseTimeout = testPatience
        configuration.pool.connectTimeout = testPatience
        return configuration
    }
}
