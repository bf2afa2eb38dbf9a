import Channels
import Codecs
import InMemoryTracing
import TestSupport
import Testing
import Tracing

@testable import MemcacheClient
@testable import Pool

@Suite("Tracing memcache operations", .enabled(if: MemcachedServer.binary != nil, "memcached is not installed"))
struct TracingTests {
    @Test("one client span per operation with OpenTelemetry's db attributes; multi-key reads carry keys and hits")
    func spans() async throws {
        let tracer = InMemoryTracer()
        let fixture = try await MemcachePoolFixture { $0.tracer = tracer }
        let pool = fixture.pool
        try await pool.set("a", to: ByteBuffer(string: "1"))
        _ = try await pool.get("a")
        _ = try await pool.get("missing")
        _ = try await pool.getMany(["a", "b", "c"])
        _ = try await pool.getMany([try MemcacheKey.binary([0, 1]), "a"]) // binary keys: a quiet meta batch

        let spans = tracer.finishedSpans
        #expect(spans.map(\.operationName) == ["ms", "mg", "mg", "get", "batch"])
        for span in spans {
            #expect(span.kind == .client)
            #expect(span.attributes.get("db.system.name") == .string("memcached"))
            #expect(span.attributes.get("db.operation.name") == .string(span.operationName))
            #expect(span.attributes.get("server.address") == .string("127.0.0.1"))
            #expect(span.attributes.get("server.port") == .int64(Int64(fixture.server.port)))
            #expect(span.errors.isEmpty && span.status == nil)
        }
        #expect(spans[3].attributes.get("db.operation.batch.size") == .int64(3))
        #expect(spans[3].attributes.get("memcached.hits") == .int64(1))
        #expect(spans[4].attributes.get("db.operation.batch.size") == .int64(2))
        #expect(spans[4].attributes.get("memcached.hits") == .int64(1))
        #expect(spans[1].attributes.get("db.operation.batch.size") == nil)
        try await fixture.stop()
    }

    @Test("a failed operation's span records the error, an error status and error.type")
    func errorSpans() async throws {
        let tracer = InMemoryTracer()
        let fixture = try await MemcachePoolFixture { $0.tracer = tracer }
        try await fixture.pool.set("n", to: ByteBuffer(string: "not a number"))
        await #expect(throws: MemcacheError.self) { try await fixture.pool.increment("n") }
        fixture.server.stop()
        await #expect(throws: MemcacheError.self) { try await fixture.pool.get("n") }

        let spans = tracer.finishedSpans
        #expect(spans.count == 3)
        let arithmetic = try #require(spans.first { $0.operationName == "ma" })
        #expect(arithmetic.status?.code == .error)
        #expect(arithmetic.errors.count == 1)
        #expect(arithmetic.attributes.get("error.type") == .string("client_error"))
        let afterKill = try #require(spans.last)
        #expect(afterKill.status?.code == .error)
        let kind = afterKill.attributes.get("error.type")
        #expect(
            kind == .string("connection_closed") || kind == .string("connect_failed"), "\(String(describing: kind))")
        try await fixture.stop()
    }

    @Test("tracing is off by default: a pool without a tracer sends nothing to the process's bootstrapped tracer")
    func offByDefault() async throws {
        // The process-wide tracer (bootstrapped once, here only): a pool must not pick it up
        // by itself.
        let global = Self.globalTracer
        let fixture = try await MemcachePoolFixture()
        try await fixture.pool.set("a", to: ByteBuffer(string: "1"))
        _ = try await fixture.pool.get("a")
        #expect(global.finishedSpans.isEmpty && global.activeSpans.isEmpty)
        try await fixture.stop()
    }

    static let globalTracer: InMemoryTracer = {
        let tracer = InMemoryTracer()
        InstrumentationSystem.bootstrap(tracer)
        return tracer
    }()
}
