import Hummingbird
import HummingbirdMemcache
import Logging
import MemcacheClient

/// Runs the example app: `HummingbirdMemcacheExample [--port 8080] [--memcache HOST:PORT |
/// --memory]`. With memcached (the default, 127.0.0.1:11211) sessions and cached reports live
/// there; with `--memory`, in Hummingbird's `MemoryPersistDriver` (for comparison).
@main
struct Main {
    static func main() async throws {
        let arguments = CommandLine.arguments
        func value(_ flag: String) -> String? {
            arguments.firstIndex(of: flag).flatMap { arguments.indices.contains($0 + 1) ? arguments[$0 + 1] : nil }
        }
        let port = value("--port").flatMap(Int.init) ?? 8080
        let configuration = ApplicationConfiguration(address: .hostname("127.0.0.1", port: port))
        let logger = Logger(label: "hummingbird-memcache-example")
        if arguments.contains("--memory") {
            let persist = MemoryPersistDriver()
            let router = ExampleApp.router(persist: persist, memcache: MemcachePool?.none)
            var app = Application(router: router, configuration: configuration, logger: logger)
            app.addServices(persist)
            try await app.runService()
            return
        }
        let server = (value("--memcache") ?? "127.0.0.1:11211").split(separator: ":")
        let group = try EventLoopGroup(loopCount: 2)
        let pool = MemcachePool(
            host: String(server.first ?? "127.0.0.1"), port: server.count > 1 ? Int(server[1]) ?? 11211 : 11211,
            group: group)
        let router = ExampleApp.router(persist: MemcachePersistDriver(cache: pool), memcache: pool)
        var app = Application(router: router, configuration: configuration, logger: logger)
        app.addServices(pool)
        try await app.runService()
        try await group.shutdownGracefully()
    }
}
