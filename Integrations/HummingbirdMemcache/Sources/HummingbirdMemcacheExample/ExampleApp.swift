import Hummingbird
import HummingbirdAuth
import HummingbirdMemcache
import MemcacheClient
import Synchronization

/// The example app's routes, on any `PersistDriver` (memcached through
/// `MemcachePersistDriver`, or Hummingbird's `MemoryPersistDriver` to compare):
///
/// - `POST /login?name=NAME` starts a session (a cookie; the session lives in the driver);
/// - `GET /me` answers the session's name, or 401 without one;
/// - `GET /reports/ID` is an expensive page (`renderReport`), cached: through memcached by
///   `MemcacheResponseCache` (rendered once however many requests miss together), or in the
///   driver when there is no memcache (each concurrent miss renders it).
public enum ExampleApp {
    public typealias Context = BasicSessionRequestContext<String, String>

    /// How often the report was rendered (the test checks one render per stampede).
    public static let renders = Atomic<Int>(0)

    /// An expensive page: stands for a database query or a template render.
    static func renderReport(_ id: String) async throws -> String {
        Self.renders.add(1, ordering: .relaxed)
        try await Task.sleep(for: .milliseconds(20))
        return "report \(id): " + String(repeating: "data ", count: 40)
    }

    /// The router: sessions in `persist`; reports cached in `memcache` when given, else in
    /// `persist`.
    public static func router(persist: some PersistDriver, memcache: (some MemcacheRequestSender)?) -> Router<Context> {
        let router = Router(context: Context.self)
        router.addMiddleware { SessionMiddleware(storage: persist) }
        router.post("login") { request, context -> HTTPResponse.Status in
            guard let name = request.uri.queryParameters.get("name"), !name.isEmpty else { return .badRequest }
            context.sessions.createSession(name, expiresIn: .seconds(600))
            return .ok
        }
        router.get("me") { _, context -> Response in
            guard let name = context.sessions.session else { return Response(status: .unauthorized) }
            return Response(status: .ok, body: .init(byteBuffer: .init(string: name)))
        }
        let reports = router.group("reports")
        if let memcache {
            reports.add(middleware: MemcacheResponseCache(cache: memcache, ttl: 60))
            reports.get(":id") { _, context -> String in
                try await Self.renderReport(context.parameters.require("id"))
            }
        } else {
            reports.get(":id") { _, context -> String in
                let id = try context.parameters.require("id")
                if let page = try await persist.get(key: "report:\(id)", as: String.self) { return page }
                let page = try await Self.renderReport(id)
                try await persist.set(key: "report:\(id)", value: page, expires: .seconds(60))
                return page
            }
        }
        return router
    }
}
