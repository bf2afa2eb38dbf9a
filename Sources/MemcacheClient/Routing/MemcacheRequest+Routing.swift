import Codecs

// How the senders over several servers (a set, the routes) take a request apart: one home
// for the split they all make.
extension MemcacheRequest {
    /// What a sender over several servers does with a request.
    enum Routing {
        /// A multi-key `get`/`gat`: split by key; `command` makes the same command for a share.
        case multiGet([MemcacheKey], command: @Sendable ([MemcacheKey]) -> MemcacheRequest)
        /// Quiet meta commands: `sendBatch`.
        case batch([MemcacheMetaRequest])
        /// `flush_all`, `verbosity`: every server.
        case everyServer
        /// A single-key command, placed by `placementKey` (nil: a keyless one).
        case single
    }

    var routing: Routing {
        switch self {
        case .get(let keys, let withCAS) where keys.count > 1:
            return .multiGet(keys) { .get(keys: $0, withCAS: withCAS) }
        case .getAndTouch(let ttl, let keys, let withCAS) where keys.count > 1:
            return .multiGet(keys) { .getAndTouch(ttl: ttl, keys: $0, withCAS: withCAS) }
        case .metaBatch(let batch): return .batch(batch)
        case .flushAll, .verbosity: return .everyServer
        default: return .single
        }
    }

    /// The key that places a single-key request on a server; nil for keyless and multi-key ones.
    var placementKey: MemcacheKey? {
        switch self {
        case .get(let keys, _), .getAndTouch(_, let keys, _): return keys.count == 1 ? keys[0] : nil
        case .store(let store): return store.key
        case .delete(let key, _), .arithmetic(let key, _, _, _), .touch(let key, _, _): return key
        case .meta(let meta): return meta.key
        case .metaBatch, .flushAll, .version, .verbosity, .stats, .quit: return nil
        }
    }

    /// Whether it only reads (`get`, `gat`, `mg`, `me`): a replicated route asks one copy.
    var isRead: Bool {
        switch self {
        case .get, .getAndTouch: return true
        case .meta(let meta): return meta.command == .get || meta.command == .debug
        default: return false
        }
    }
}

extension MemcacheResponse {
    /// The items of a multi-get's replies from several servers, as one reply (`.end` when none).
    /// - Throws: `MemcacheError.unexpectedResponse` for a part that is neither.
    static func mergedItems(_ parts: [MemcacheResponse], command: String) throws -> MemcacheResponse {
        var items: [MemcacheItem] = []
        for part in parts {
            switch part {
            case .values(let found): items += found
            case .end: break
            default: throw MemcacheError(.unexpectedResponse, "\(command) got \(part)")
            }
        }
        return items.isEmpty ? .end : .values(items)
    }
}

extension [MemcacheMetaRequest] {
    /// The part of this batch for the server that holds `keys`: its requests in the batch's
    /// order (a set then a get of one key stay so), each keyless one (an `mn` fence) going
    /// with the command before it.
    func part(for keys: [MemcacheKey]) -> [MemcacheMetaRequest] {
        let here = Set(keys)
        var part: [MemcacheMetaRequest] = []
        var previousIsHere = false
        for request in self {
            if let key = request.key { previousIsHere = here.contains(key) }
            if previousIsHere { part.append(request) }
        }
        return part
    }
}
