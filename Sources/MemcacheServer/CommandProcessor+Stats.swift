import Channels
import Codecs

// `stats` and its groups (`settings`, `items`, `slabs`, `conns`, `sizes`), in memcached's
// names and order where this server has the same thing, with values true of this server.
extension CommandProcessor {
    func stats(_ argument: String?, into out: inout ByteBuffer) {
        let lines: [(name: String, value: String)]
        switch argument {
        case nil:
            lines = MemcacheServerStatistics(store: self.store, counters: self.counters).statsLines
        case "settings":
            lines = self.settingsLines
        case "items":
            lines = self.itemsLines
        case "slabs":
            lines = self.slabsLines
        case "conns":
            lines = self.connectionLines
        case "sizes":
            // What memcached 1.6 answers unless started with `-o track_sizes`.
            lines = [("sizes_status", "disabled")]
        default:
            self.reply(.error(MemcacheError(.unknownCommand, "")), noreply: false, into: &out)
            return
        }
        self.reply(.stats(lines.map { MemcacheStat(name: $0.name, value: $0.value) }), noreply: false, into: &out)
    }

    /// memcached's `stats settings`, less what this server does not have (UDP, extstore, slab
    /// rebalancing, the LRU crawler and maintainer, SASL): the server's own values (address,
    /// limits, TLS, authentication; set when it starts listening) in memcached's order.
    private var settingsLines: [(name: String, value: String)] {
        let server = Dictionary(self.counters.settings.withLock { $0 }, uniquingKeysWith: { _, last in last })
        let ordered: [(String, String)] = [
            ("maxbytes", "\(self.store.memoryLimit)"), ("maxconns", server["maxconns"] ?? "1024"),
            ("tcpport", server["tcpport"] ?? "0"), ("udpport", server["udpport"] ?? "0"),
            ("inter", server["inter"] ?? "NULL"),
            ("verbosity", "0"), ("oldest", "0"), ("evictions", "on"),
            ("domain_socket", server["domain_socket"] ?? "NULL"), ("umask", server["umask"] ?? "700"),
            ("growth_factor", "1.25"), ("chunk_size", "48"), ("num_threads", "\(self.counters.loops)"),
            ("stat_key_prefix", ":"), ("detail_enabled", "no"), ("cas_enabled", "yes"),
            ("auth_enabled_sasl", "no"), ("auth_enabled_ascii", server["auth_enabled_ascii"] ?? "no"),
            ("item_size_max", "\(self.store.maximumValueLength)"), ("slab_chunk_max", "\(SizeClasses.largestChunk)"),
            ("lru_segmented", "no"), ("flush_enabled", "yes"), ("idle_timeout", "0"),
            ("ssl_enabled", server["ssl_enabled"] ?? "no"),
            // This server's own: memcached has no limit on a request left incomplete.
            ("incomplete_request_timeout", server["incomplete_request_timeout"] ?? "0"),
        ]
        return ordered.map { (name: $0.0, value: $0.1) }
    }

    /// `stats items`: per size class with items, memcached's keys that this store has. One
    /// LRU, not memcached's hot/warm/cold segments: every item counts as cold.
    private var itemsLines: [(name: String, value: String)] {
        var lines: [(name: String, value: String)] = []
        for (index, tally) in self.store.sizeClasses().enumerated() where tally.items > 0 {
            let prefix = "items:\(index + 1):"
            lines += [
                (prefix + "number", "\(tally.items)"), (prefix + "number_hot", "0"), (prefix + "number_warm", "0"),
                (prefix + "number_cold", "\(tally.items)"), (prefix + "age_hot", "0"), (prefix + "age_warm", "0"),
                (prefix + "age", "\(tally.oldestAge)"), (prefix + "mem_requested", "\(tally.bytes)"),
                (prefix + "evicted", "\(tally.evictions)"), (prefix + "outofmemory", "0"),
            ]
        }
        return lines
    }

    /// `stats slabs`: each size class with items as if its items sat in memcached's 1 MiB
    /// pages of equal chunks (this server allocates each item on its own, so the pages are a
    /// count, not memory held); `total_malloced` is the bytes the items are charged.
    private var slabsLines: [(name: String, value: String)] {
        var lines: [(name: String, value: String)] = []
        var active = 0
        var bytes = 0
        for (index, tally) in self.store.sizeClasses().enumerated() where tally.items > 0 {
            let chunk = SizeClasses.chunkSizes[index]
            let perPage = max(SizeClasses.pageSize / chunk, 1)
            let pages = (tally.items + perPage - 1) / perPage
            let prefix = "\(index + 1):"
            lines += [
                (prefix + "chunk_size", "\(chunk)"), (prefix + "chunks_per_page", "\(perPage)"),
                (prefix + "total_pages", "\(pages)"), (prefix + "total_chunks", "\(pages * perPage)"),
                (prefix + "used_chunks", "\(tally.items)"),
                (prefix + "free_chunks", "\(pages * perPage - tally.items)"),
                (prefix + "free_chunks_end", "0"),
            ]
            active += 1
            bytes += tally.bytes
        }
        return lines + [("active_slabs", "\(active)"), ("total_malloced", "\(bytes)")]
    }

    /// `stats conns`: the listener, then every open connection (numbered, where memcached
    /// shows file descriptors).
    private var connectionLines: [(name: String, value: String)] {
        let now = self.store.clock()
        let listener = self.counters.listenAddress.withLock { $0 }
        let records = self.counters.connections.withLock { $0 }.sorted { $0.key < $1.key }.map(\.value)
        return [("0:addr", listener), ("0:state", "conn_listening")]
            + records.flatMap { $0.statsLines(now: now, listenAddress: listener) }
    }
}
