import Channels
import Codecs

// `stats` and `stats settings`, with the general counters memcached clients and tools read.
extension CommandProcessor {
    func stats(_ argument: String?, into out: inout ByteBuffer) {
        let lines: [(name: String, value: String)]
        switch argument {
        case nil:
            lines = MemcacheServerStatistics(store: self.store, counters: self.counters).statsLines
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
        self.reply(.stats(lines.map { MemcacheStat(name: $0.name, value: $0.value) }), noreply: false, into: &out)
    }
}
