import Channels
import Codecs
import Foundation

// `stats` and `stats settings`, with the general counters memcached clients and tools read.
extension CommandProcessor {
    func stats(_ argument: String?, into out: inout ByteBuffer) {
        let lines: [(String, String)]
        switch argument {
        case nil:
            lines = self.generalStats()
        case "settings":
            lines = [
                ("maxbytes", "\(self.store.memoryLimit)"), ("item_size_max", "\(self.store.maximumValueLength)"),
                ("num_threads", "\(self.counters.loops)"), ("evictions", "on"), ("cas_enabled", "yes"),
            ]
        case "items", "slabs", "sizes", "conns":
            lines = []
        default:
            self.reply(.error(MemcacheError(.unknownCommand, "")), noreply: false, into: &out)
            return
        }
        self.reply(.stats(lines.map { MemcacheStat(name: $0.0, value: $0.1) }), noreply: false, into: &out)
    }

    private func generalStats() -> [(String, String)] {
        let (items, bytes, statistics) = self.store.snapshot()
        let now = self.store.clock()
        return [
            ("pid", "\(ProcessInfo.processInfo.processIdentifier)"),
            ("uptime", "\(now - self.counters.startTime)"),
            ("time", "\(now)"),
            ("version", Self.version),
            ("pointer_size", "\(MemoryLayout<Int>.size * 8)"),
            ("curr_connections", "\(self.counters.currentConnections)"),
            ("total_connections", "\(self.counters.totalConnections)"),
            ("cmd_get", "\(statistics.getHits + statistics.getMisses)"),
            ("cmd_set", "\(statistics.sets)"),
            ("cmd_touch", "\(statistics.touches)"),
            ("get_hits", "\(statistics.getHits)"),
            ("get_misses", "\(statistics.getMisses)"),
            ("threads", "\(self.counters.loops)"),
            ("bytes", "\(bytes)"),
            ("curr_items", "\(items)"),
            ("total_items", "\(statistics.totalItems)"),
            ("evictions", "\(statistics.evictions)"),
            ("limit_maxbytes", "\(self.store.memoryLimit)"),
        ]
    }
}
