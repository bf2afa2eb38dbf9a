import Channels
import Codecs
import Pool
import Tracing

/// One span per memcache operation, after OpenTelemetry's database conventions: named by the
/// command (`mg`, `set`, …), kind client, with `db.system.name` = `memcached`,
/// `db.operation.name`, `server.address`, `server.port`; a multi-key read adds
/// `db.operation.batch.size` (its keys) and `memcached.hits` (the keys found); a failure is
/// recorded on the span (`recordError`, status error, `error.type` = its kind).
///
/// Thread-safe (the tracer is). The parent is the caller's task-local context.
struct MemcacheTracing: Sendable {
    let tracer: any Tracer
    let host: String
    let port: Int

    func start(_ request: MemcacheRequest) -> any Span {
        let name = request.commandName
        let span = self.tracer.startSpan(name, context: InstrumentationContext.current ?? .topLevel, ofKind: .client)
        span.updateAttributes { attributes in
            attributes["db.system.name"] = "memcached"
            attributes["db.operation.name"] = name
            attributes["server.address"] = self.host
            // A Unix-domain socket (port 0) has its path as the address and no port.
            if self.port != 0 {
                attributes["server.port"] = self.port
            } else {
                attributes["network.transport"] = "unix"
            }
            if let keys = request.keyCount, keys > 1 { attributes["db.operation.batch.size"] = keys }
        }
        return span
    }

    func end(_ span: any Span, _ request: MemcacheRequest, _ response: MemcacheResponse, hits: Int?) {
        if let keys = request.keyCount, keys > 1 || request.isBatch {
            span.attributes["memcached.hits"] = hits ?? response.hitCount
        }
        if case .error(let error) = response { Self.fail(span, error) }
        span.end()
    }

    func end(_ span: any Span, throwing error: any Error) {
        Self.fail(span, error)
        span.end()
    }

    private static func fail(_ span: any Span, _ error: any Error) {
        span.attributes["error.type"] = operationOutcome(of: error)
        span.recordError(error)
        span.setStatus(SpanStatus(code: .error, message: "\(error)"))
    }
}

extension MemcacheRequest {
    /// How many keys the request names (nil for commands without keys).
    var keyCount: Int? {
        switch self {
        case .get(let keys, _), .getAndTouch(_, let keys, _): return keys.count
        case .store, .delete, .arithmetic, .touch: return 1
        case .meta(let meta): return meta.key == nil ? nil : 1
        case .metaBatch(let batch): return batch.filter { $0.key != nil }.count
        case .flushAll, .version, .verbosity, .stats, .quit: return nil
        }
    }

    var isBatch: Bool {
        if case .metaBatch = self { return true }
        return false
    }
}

extension MemcacheResponse {
    /// The values a read returned.
    var hitCount: Int {
        switch self {
        case .values(let items): return items.count
        case .meta(let meta): return meta.status == .value ? 1 : 0
        default: return 0
        }
    }
}
