import ArgumentParser
import Channels
import Codecs
import Foundation
import MemcacheClient
import MemcacheServer
import TestSupport
import Testing

@testable import mcpool

@Suite("mcpool over memcached's UDP protocol: get/set/delete/bench --udp, serve --udp-port")
struct UDPCommandTests {
    @Test(
        "set, get and delete --udp against memcached -U; bench --udp runs with 0 errors; bad combinations are refused")
    func againstMemcached() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let memcached = try await MemcachedServer(udp: true, group: group)
        defer { memcached.stop() }
        let server = ["--server", "127.0.0.1:\(memcached.port)", "--udp", "--connect-timeout", "300"]
        try await SetCommand.parse(server + ["greeting", "hello over udp"]).run()
        let tcp = try await MemcacheConnection.connect(host: "127.0.0.1", port: memcached.port, group: group)
        #expect(try await tcp.get("greeting") == ByteBuffer(string: "hello over udp"))
        try await GetCommand.parse(server + ["greeting"]).run()
        try await DeleteCommand.parse(server + ["greeting"]).run()
        await #expect(throws: ExitCode.failure) { try await GetCommand.parse(server + ["greeting"]).run() }
        let report = try await Bench.parse(
            server + ["--duration", "0.3", "--concurrency", "8", "--keys", "20", "--loops", "1", "--json"]
        ).execute()
        #expect(report.tally.operations > 0 && report.tally.errorCount == 0, "\(report.tally)")
        #expect(report.server.hasSuffix("over UDP"))
        #expect(throws: (any Error).self) { try GetCommand.parse(["--udp", "--tls", "k"]) }
        #expect(throws: (any Error).self) { try GetCommand.parse(["--udp", "--server", "a:1,b:2", "k"]) }
        #expect(throws: (any Error).self) { try GetCommand.parse(["--udp", "--server", "unix:/tmp/m.sock", "k"]) }
        try await tcp.close()
    }

    @Test("serve --udp-port answers get --udp; --udp-port with TLS or an auth file is refused")
    func serveUDP() async throws {
        let group = try EventLoopGroup(loopCount: 1)
        defer { try? group.syncShutdownGracefully() }
        let udpPort = try freePort()
        let (process, port) = try await ServeProcessTests.startServe(group: group, ["--udp-port", "\(udpPort)"])
        defer { process.kill() }
        let tcp = try await MemcacheConnection.connect(host: "127.0.0.1", port: port, group: group)
        try await tcp.set("served", to: ByteBuffer(string: "by mcpool serve"))
        let udp = try await MemcacheUDPClient.connect(
            host: "127.0.0.1", port: udpPort, group: group, configuration: .init(responseTimeout: testPatience))
        #expect(try await udp.get("served") == ByteBuffer(string: "by mcpool serve"))
        try await GetCommand.parse(["--server", "127.0.0.1:\(udpPort)", "--udp", "--connect-timeout", "300", "served"])
            .run()
        #expect(try await tcp.stats("settings")["udpport"] == "\(udpPort)")
        #expect(throws: (any Error).self) {
            try Serve.parse(["--udp-port", "1", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
        }
        #expect(throws: (any Error).self) { try Serve.parse(["--udp-port", "1", "--auth-file", "users"]) }
        try await udp.close()
        try await tcp.close()
    }
}
