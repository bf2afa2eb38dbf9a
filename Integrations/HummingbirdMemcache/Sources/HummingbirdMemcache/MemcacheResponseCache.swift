import Channels
public import Hummingbird
public import MemcacheClient
import NIOCore

/// Caches the bodies of successful `GET` responses in memcached, computed once however many
/// requests miss together: the route behind it runs for one of them (memcached's lease,
/// `getOrCompute`), the others get its body. Responses other than 200 are not cached and go
/// out as they are; so do requests other than `GET`, and paths that make no valid key.
///
/// The cache key is `keyPrefix` + the path and query. Cached responses go out with the
/// content type given here (the original's headers are not stored).
///
/// ```swift
/// router.group("reports")
///     .add(middleware: MemcacheResponseCache(cache: pool, ttl: 60))
///     .get(":id") { _, context in try await renderReport(context.parameters.require("id")) }
/// ```
public struct MemcacheResponseCache<Context: RequestContext, Cache: MemcacheRequestSender>: RouterMiddleware {
    public let cache: Cache
    public let ttl: Int
    public let keyPrefix: String
    public let contentType: String

    public init(
        cache: Cache, ttl: Int, keyPrefix: String = "response:", contentType: String = "text/plain; charset=utf-8"
    ) {
        self.cache = cache
        self.ttl = ttl
        self.keyPrefix = keyPrefix
        self.contentType = contentType
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard request.method == .get, let key = try? MemcacheKey(self.keyPrefix + request.uri.description) else {
            return try await next(request, context)
        }
        let body: Channels.ByteBuffer
        do {
            body = try await self.cache.getOrCompute(key, ttl: self.ttl) {
                let response = try await next(request, context)
                guard response.status == .ok else { throw Uncacheable(response: response) }
                return Channels.ByteBuffer(bytes: try await Self.collect(response.body))
            }
        } catch let uncacheable as Uncacheable {
            return uncacheable.response
        }
        var headers = HTTPFields()
        headers[.contentType] = self.contentType
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody(byteBuffer: NIOCore.ByteBuffer(bytes: body.readableBytesView)))
    }

    /// A response the route gave that is not cached: it goes out as it is.
    private struct Uncacheable: Error {
        let response: Response
    }

    /// The bytes of a response body, as the route wrote them.
    private static func collect(_ body: ResponseBody) async throws -> [UInt8] {
        let collected = Collected()
        try await body.write(CollectingWriter(collected: collected))
        return collected.bytes
    }

    private final class Collected {
        var bytes: [UInt8] = []
    }

    private struct CollectingWriter: ResponseBodyWriter {
        let collected: Collected

        mutating func write(_ buffer: NIOCore.ByteBuffer) async throws {
            self.collected.bytes.append(contentsOf: buffer.readableBytesView)
        }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
