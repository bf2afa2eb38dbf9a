/// The message types a handler declares, read once per handler type, so the pipeline can
/// reject a handler that does not fit its neighbours before any message flows.
///
/// Thread-safe (immutable). Shared by every context of the same handler type: a server holds
/// thousands of pipelines, and a copy per context (with its two closures) was a fifth of an
/// idle connection's memory.
final class HandlerTypes: Sendable {
    let inboundIn: Any.Type?
    let inboundOut: Any.Type?
    let outboundIn: Any.Type?
    let outboundOut: Any.Type?
    /// Checks a message against `inboundIn` / `outboundIn` (built in a generic context, so
    /// protocol and class types match the way `as?` does).
    let acceptsInbound: (@Sendable (PipelineMessage) -> Bool)?
    let acceptsOutbound: (@Sendable (PipelineMessage) -> Bool)?
    let inboundInIsBuffer: Bool
    let outboundInIsBuffer: Bool

    private static let cache = LockedValue<[ObjectIdentifier: HandlerTypes]>([:])
    private static let endCache = LockedValue<[EndKey: HandlerTypes]>([:])

    /// The types of `handler`'s type.
    static func of(_ handler: any ChannelHandler) -> HandlerTypes {
        let key = ObjectIdentifier(type(of: handler))
        if let known = Self.cache.withLock({ $0[key] }) { return known }
        let types = HandlerTypes(of: handler)
        Self.cache.withLock { $0[key] = types }
        return types
    }

    /// Types for a pipeline's end: as the head it produces `inboundOut` (what the channel
    /// reads) and takes `outboundIn` (what it writes); as the tail it takes anything.
    static func ofEnd(inboundOut: Any.Type?, outboundIn: Any.Type?) -> HandlerTypes {
        let key = EndKey(
            inboundOut: inboundOut.map(ObjectIdentifier.init), outboundIn: outboundIn.map(ObjectIdentifier.init))
        if let known = Self.endCache.withLock({ $0[key] }) { return known }
        let types = HandlerTypes(inboundOut: inboundOut, outboundIn: outboundIn)
        Self.endCache.withLock { $0[key] = types }
        return types
    }

    private struct EndKey: Hashable {
        let inboundOut: ObjectIdentifier?
        let outboundIn: ObjectIdentifier?
    }

    private init(of handler: any ChannelHandler) {
        var inbound: Side?
        var outbound: Side?
        if let handler = handler as? any ChannelInboundHandler { inbound = Self.inbound(handler) }
        if let handler = handler as? any ChannelOutboundHandler { outbound = Self.outbound(handler) }
        self.inboundIn = inbound?.in
        self.inboundOut = inbound?.out
        self.acceptsInbound = inbound?.accepts
        self.inboundInIsBuffer = inbound?.in == ByteBuffer.self
        self.outboundIn = outbound?.in
        self.outboundOut = outbound?.out
        self.acceptsOutbound = outbound?.accepts
        self.outboundInIsBuffer = outbound?.in == ByteBuffer.self
    }

    private init(inboundOut: Any.Type?, outboundIn: Any.Type?) {
        self.inboundIn = nil
        self.inboundOut = inboundOut
        self.outboundIn = outboundIn
        self.outboundOut = nil
        self.acceptsInbound = nil
        self.acceptsOutbound = nil
        self.inboundInIsBuffer = false
        self.outboundInIsBuffer = false
    }

    private typealias Side = (in: Any.Type, out: Any.Type, accepts: @Sendable (PipelineMessage) -> Bool)

    private static func inbound<H: ChannelInboundHandler>(_ handler: H) -> Side {
        // The usual message has exactly the declared type: a metadata comparison proves it, so
        // the handler's own unwrap is the one cast of the hop. Otherwise (a subclass, a value
        // for a protocol type) the cast decides.
        (
            H.InboundIn.self, H.InboundOut.self,
            { $0.hasExactType(H.InboundIn.self) || $0.unwrap(as: H.InboundIn.self) != nil }
        )
    }

    private static func outbound<H: ChannelOutboundHandler>(_ handler: H) -> Side {
        (
            H.OutboundIn.self, H.OutboundOut.self,
            { $0.hasExactType(H.OutboundIn.self) || $0.unwrap(as: H.OutboundIn.self) != nil }
        )
    }

    /// A handler taking and giving `Any` inbound is invisible to the inbound type check
    /// (a channel initializer, a logger).
    var isInboundTransparent: Bool { self.inboundIn == Any.self && self.inboundOut == Any.self }
    var isOutboundTransparent: Bool { self.outboundIn == Any.self && self.outboundOut == Any.self }

    /// Whether messages of type `produced` may flow into a handler taking `consumed`.
    static func fits(produced: Any.Type?, consumed: Any.Type?) -> Bool {
        guard let produced, let consumed else { return true }
        if produced == Never.self || produced == Any.self || consumed == Any.self { return true }
        return produced == consumed
    }
}
