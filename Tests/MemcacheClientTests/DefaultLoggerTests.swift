import Channels
import Logging
import MemcacheServer
import Testing

@testable import MemcacheClient
@testable import Pool

@Suite("Default loggers")
struct DefaultLoggerTests {
    @Test("with no logger configured, the pool, the server set and the server log nothing (not to the app's stderr)")
    func silentByDefault() {
        #expect(ConnectionPoolConfiguration(maxConnections: 1).logger.handler is SwiftLogNoOpLogHandler)
        #expect(
            MemcachePool.Configuration(host: "127.0.0.1", port: 1, maxConnections: 1).pool.logger.handler
                is SwiftLogNoOpLogHandler)
        #expect(InProcessMemcacheServer.Configuration(port: 0).logger.handler is SwiftLogNoOpLogHandler)
    }
}
