import Codecs

// What the gutter stores: every TTL a request carries, capped; a store without one gets the cap.
extension MemcacheGutterRoute {
    /// `ttl` within the cap: 0 (never expires) and anything longer (an absolute Unix time
    /// too) become the cap; a negative TTL (expire at once) stays.
    func cappedTTL(_ ttl: Int) -> Int {
        ttl == 0 || ttl > self.maximumTTL ? self.maximumTTL : ttl
    }

    func capped(_ request: MemcacheRequest) -> MemcacheRequest {
        switch request {
        case .store(var store):
            store.ttl = self.cappedTTL(store.ttl)
            return .store(store)
        case .touch(let key, let ttl, let noreply):
            return .touch(key: key, ttl: self.cappedTTL(ttl), noreply: noreply)
        case .getAndTouch(let ttl, let keys, let withCAS):
            return .getAndTouch(ttl: self.cappedTTL(ttl), keys: keys, withCAS: withCAS)
        case .meta(let meta):
            return .meta(self.capped(meta))
        case .metaBatch(let batch):
            return .metaBatch(batch.map { self.capped($0) })
        case .get, .delete, .arithmetic, .flushAll, .version, .verbosity, .stats, .quit:
            return request
        }
    }

    /// A meta command's `T` (TTL) and `N` (vivify TTL) flags capped; an `ms` without `T` gets one.
    func capped(_ meta: MemcacheMetaRequest) -> MemcacheMetaRequest {
        var meta = meta
        var hasTTL = false
        meta.flags = meta.flags.map { flag in
            switch flag.letter {
            case UInt8(ascii: "T"):
                hasTTL = true
                return .ttl(self.cappedTTL(Self.seconds(flag)))
            case UInt8(ascii: "N"):
                return .vivify(ttl: self.cappedTTL(Self.seconds(flag)))
            default:
                return flag
            }
        }
        if meta.command == .set, !hasTTL { meta.flags.append(.ttl(self.maximumTTL)) }
        return meta
    }

    /// A TTL flag's seconds (0, "never", when the token is not a number: the cap then applies).
    private static func seconds(_ flag: MemcacheMetaFlag) -> Int {
        Int(String(decoding: flag.token, as: UTF8.self)) ?? 0
    }
}
