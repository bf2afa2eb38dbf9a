/// The pipeline's build-time type check: neighbouring handlers must agree on the message
/// types flowing between them, so a mismatch is reported when a handler is added (naming
/// both handlers), never at the first message.
enum TypeCheck {
    /// Checks `context` placed between `previous` and `following`.
    static func verifyInsertion(
        of context: ChannelHandlerContext,
        between previous: ChannelHandlerContext,
        and following: ChannelHandlerContext
    ) throws {
        let types = context.types
        if types.inboundIn != nil, !types.isInboundTransparent {
            if let producer = self.inboundProducer(from: previous) {
                try self.require(producer, producing: producer.types.inboundOut, fits: context, taking: types.inboundIn)
            }
            if let consumer = self.inboundConsumer(from: following) {
                try self.require(context, producing: types.inboundOut, fits: consumer, taking: consumer.types.inboundIn)
            }
        }
        if types.outboundIn != nil, !types.isOutboundTransparent {
            if let producer = self.outboundProducer(from: following) {
                try self.require(
                    producer, producing: producer.types.outboundOut, fits: context, taking: types.outboundIn)
            }
            if let consumer = self.outboundConsumer(from: previous) {
                try self.require(
                    context, producing: types.outboundOut, fits: consumer, taking: consumer.types.outboundIn)
            }
        }
    }

    /// Checks that the neighbours of `context` still fit each other once it is gone.
    static func verifyRemoval(
        of context: ChannelHandlerContext,
        between previous: ChannelHandlerContext,
        and following: ChannelHandlerContext
    ) throws {
        if context.types.inboundIn != nil, !context.types.isInboundTransparent,
            let producer = self.inboundProducer(from: previous), let consumer = self.inboundConsumer(from: following)
        {
            try self.require(
                producer, producing: producer.types.inboundOut, fits: consumer, taking: consumer.types.inboundIn,
                removing: context)
        }
        if context.types.outboundIn != nil, !context.types.isOutboundTransparent,
            let producer = self.outboundProducer(from: following), let consumer = self.outboundConsumer(from: previous)
        {
            try self.require(
                producer, producing: producer.types.outboundOut, fits: consumer, taking: consumer.types.outboundIn,
                removing: context)
        }
    }

    // The nearest handler whose output feeds inbound messages into this position (the
    // pipeline's end, as the head, produces what the channel reads).
    private static func inboundProducer(from start: ChannelHandlerContext) -> ChannelHandlerContext? {
        self.walk(from: start, step: \.previous) { $0.types.inboundOut != nil && !$0.types.isInboundTransparent }
    }

    private static func inboundConsumer(from start: ChannelHandlerContext) -> ChannelHandlerContext? {
        self.walk(from: start, step: \.next) { $0.types.inboundIn != nil && !$0.types.isInboundTransparent }
    }

    // Outbound messages flow from the tail side towards the head.
    private static func outboundProducer(from start: ChannelHandlerContext) -> ChannelHandlerContext? {
        self.walk(from: start, step: \.next) { $0.types.outboundOut != nil && !$0.types.isOutboundTransparent }
    }

    private static func outboundConsumer(from start: ChannelHandlerContext) -> ChannelHandlerContext? {
        self.walk(from: start, step: \.previous) { $0.types.outboundIn != nil && !$0.types.isOutboundTransparent }
    }

    private static func walk(
        from start: ChannelHandlerContext,
        step: KeyPath<ChannelHandlerContext, ChannelHandlerContext?>,
        until matches: (ChannelHandlerContext) -> Bool
    ) -> ChannelHandlerContext? {
        var candidate: ChannelHandlerContext? = start
        while let context = candidate {
            if matches(context) { return context }
            // The pipeline's end is the head walking back and the tail walking on: either
            // way the walk is over (the ring goes on past it to the other side).
            if context === context.pipeline.end { return nil }
            candidate = context[keyPath: step]
        }
        return nil
    }

    private static func require(
        _ producer: ChannelHandlerContext,
        producing produced: Any.Type?,
        fits consumer: ChannelHandlerContext,
        taking consumed: Any.Type?,
        removing removed: ChannelHandlerContext? = nil
    ) throws {
        guard !HandlerTypes.fits(produced: produced, consumed: consumed) else { return }
        let reason = removed.map { "removing '\($0.name)' would leave " } ?? ""
        throw PipelineError(
            .typeMismatch,
            "\(reason)'\(producer.name)' produces \(produced.map { "\($0)" } ?? "nothing") but '\(consumer.name)' takes \(consumed.map { "\($0)" } ?? "nothing")"
        )
    }
}
