/// The message types a handler declares, read once when it is added, so the pipeline can
/// reject a handler that does not fit its neighbours before any message flows.
struct HandlerTypes {
    var inboundIn: Any.Type?
    var inboundOut: Any.Type?
    var outboundIn: Any.Type?
    var outboundOut: Any.Type?
    /// Checks a message against `inboundIn` / `outboundIn` (built in a generic context, so
    /// protocol and class types match the way `as?` does).
    var acceptsInbound: ((PipelineMessage) -> Bool)?
    var acceptsOutbound: ((PipelineMessage) -> Bool)?
    var inboundInIsBuffer = false
    var outboundInIsBuffer = false

    init(of handler: any ChannelHandler) {
        if let inbound = handler as? any ChannelInboundHandler {
            self.readInbound(inbound)
        }
        if let outbound = handler as? any ChannelOutboundHandler {
            self.readOutbound(outbound)
        }
    }

    /// Types for the pipeline's own head and tail.
    init(inboundOut: Any.Type?, outboundIn: Any.Type?) {
        self.inboundOut = inboundOut
        self.outboundIn = outboundIn
    }

    private mutating func readInbound<H: ChannelInboundHandler>(_ handler: H) {
        self.inboundIn = H.InboundIn.self
        self.inboundOut = H.InboundOut.self
        self.inboundInIsBuffer = H.InboundIn.self == ByteBuffer.self
        // The usual message has exactly the declared type: a metadata comparison proves it, so
        // the handler's own unwrap is the one cast of the hop. Otherwise (a subclass, a value
        // for a protocol type) the cast decides.
        self.acceptsInbound = { $0.hasExactType(H.InboundIn.self) || $0.unwrap(as: H.InboundIn.self) != nil }
    }

    private mutating func readOutbound<H: ChannelOutboundHandler>(_ handler: H) {
        self.outboundIn = H.OutboundIn.self
        self.outboundOut = H.OutboundOut.self
        self.outboundInIsBuffer = H.OutboundIn.self == ByteBuffer.self
        self.acceptsOutbound = { $0.hasExactType(H.OutboundIn.self) || $0.unwrap(as: H.OutboundIn.self) != nil }
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
