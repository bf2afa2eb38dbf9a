/// A handler in a `ChannelPipeline`. Adopt `ChannelInboundHandler`, `ChannelOutboundHandler`
/// or both (`ChannelDuplexHandler`) rather than this protocol alone.
///
/// Loop-confined: a handler's methods are called only on its channel's loop, in order, so a
/// handler needs no locks.
public protocol ChannelHandler: AnyObject {
    /// The handler joined a pipeline; `context` is its place there.
    func handlerAdded(context: ChannelHandlerContext)
    /// The handler left the pipeline. It may still forward what it buffered through `context`.
    func handlerRemoved(context: ChannelHandlerContext)
    /// The loop's turn is ending and this handler asked for `context.flushAtEndOfTurn()`:
    /// write what it batched during the turn (one buffer for many messages); the flush from
    /// its position follows. The default does nothing.
    func turnWillEnd(context: ChannelHandlerContext)
}

extension ChannelHandler {
    public func handlerAdded(context: ChannelHandlerContext) {}
    public func handlerRemoved(context: ChannelHandlerContext) {}
    public func turnWillEnd(context: ChannelHandlerContext) {}
}

/// How much of a channel `close` shuts.
public enum CloseMode: Sendable {
    /// Both directions: the channel closes.
    case all
    /// Only our output, after the pending writes are flushed (TCP half-close, `FIN`).
    case output
    /// Only our input: nothing more is read.
    case input
}

/// A handler that also handles outbound operations, in both directions.
public typealias ChannelDuplexHandler = ChannelInboundHandler & ChannelOutboundHandler
