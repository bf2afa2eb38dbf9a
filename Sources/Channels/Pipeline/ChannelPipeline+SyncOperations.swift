extension ChannelPipeline {
    /// Synchronous pipeline changes and look-ups.
    ///
    /// Loop-confined: use only on the channel's loop (in a channel initializer or a handler).
    ///
    /// ```swift
    /// let ops = channel.pipeline.syncOperations
    /// try ops.addHandler(FrameDecoder(), name: "decoder")
    /// try ops.addHandler(TLSHandler(context: tls), name: "tls", position: .before("decoder"))
    /// ```
    public struct SyncOperations {
        let pipeline: ChannelPipeline

        /// Adds `handler` at `position`.
        ///
        /// - Throws: `PipelineError` with `.typeMismatch` when its message types do not fit
        ///   its neighbours, `.notAHandler` when it is neither inbound nor outbound,
        ///   `.duplicateName`, `.notFound` for a missing anchor, or `.pipelineClosed` after
        ///   the channel closed.
        public func addHandler(_ handler: any ChannelHandler, name: String? = nil, position: Position = .last) throws {
            self.pipeline.eventLoop.assertInEventLoop()
            guard
                let context = ChannelHandlerContext(
                    givenName: name, ordinal: self.pipeline.nextOrdinal(), handler: handler,
                    types: HandlerTypes.of(handler),
                    pipeline: self.pipeline, eventLoop: self.pipeline.eventLoop)
            else {
                throw PipelineError(
                    .notAHandler,
                    "\(type(of: handler)) is neither a ChannelInboundHandler nor a ChannelOutboundHandler: no event would reach it"
                )
            }
            // Made-up names ("Type-N") are unique by their number; only a given name can clash.
            if self.pipeline.contexts().contains(where: { $0.givenName != nil && $0.name == context.name }) {
                throw PipelineError(.duplicateName, "a handler named '\(context.name)' is already in the pipeline")
            }
            let anchor: ChannelHandlerContext
            switch position {
            case .first: anchor = self.pipeline.end
            case .last: anchor = self.pipeline.end.previous ?? self.pipeline.end
            case .before(let other):
                anchor = try self.context(name: other).previous ?? self.pipeline.end
            case .after(let other):
                anchor = try self.context(name: other)
            }
            try self.pipeline.insert(context, after: anchor)
        }

        /// Adds `handlers` in order at the end of the pipeline.
        public func addHandlers(_ handlers: [any ChannelHandler]) throws {
            for handler in handlers { try self.addHandler(handler) }
        }

        /// Adds `handlers` in order at the end of the pipeline.
        public func addHandlers(_ handlers: any ChannelHandler...) throws {
            try self.addHandlers(handlers)
        }

        public func removeHandler(name: String) throws {
            self.pipeline.eventLoop.assertInEventLoop()
            try self.pipeline.remove(self.context(name: name))
        }

        public func removeHandler(_ handler: any ChannelHandler) throws {
            self.pipeline.eventLoop.assertInEventLoop()
            try self.pipeline.remove(self.context(handler: handler))
        }

        public func removeHandler(context: ChannelHandlerContext) throws {
            self.pipeline.eventLoop.assertInEventLoop()
            try self.pipeline.remove(context)
        }

        /// The context of the handler called `name`.
        public func context(name: String) throws -> ChannelHandlerContext {
            guard let context = self.pipeline.contexts().first(where: { $0.name == name }) else {
                throw PipelineError(.notFound, "no handler named '\(name)'")
            }
            return context
        }

        public func context(handler: any ChannelHandler) throws -> ChannelHandlerContext {
            guard let context = self.pipeline.contexts().first(where: { $0.handler === handler }) else {
                throw PipelineError(.notFound, "\(type(of: handler)) is not in the pipeline")
            }
            return context
        }

        /// The first handler of type `H`.
        public func handler<H: ChannelHandler>(type: H.Type) throws -> H {
            for context in self.pipeline.contexts() {
                if let handler = context.handler as? H { return handler }
            }
            throw PipelineError(.notFound, "no handler of type \(H.self)")
        }

        /// Writes `value` into the pipeline (from the tail) at once, with no hop: the way to
        /// send from code already on the loop.
        public func write<T: Sendable>(_ value: T, promise: EventLoopPromise<Void>?) {
            self.pipeline.write(PipelineMessage(value), promise: promise)
        }

        /// Flushes the pipeline at once.
        public func flush() {
            self.pipeline.flush()
        }

        /// The names of the handlers, head to tail (for logs and tests).
        public var handlerNames: [String] {
            self.pipeline.contexts().map(\.name)
        }
    }
}
