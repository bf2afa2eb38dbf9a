/// An error of a pipeline operation: adding, removing or finding handlers, or a message of a
/// type the next handler does not take.
///
/// Thread-safe (a value).
public struct PipelineError: CodedError, Sendable {
    public typealias Code = ErrorCode<PipelineError>

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ErrorCode where Area == PipelineError {
    /// Neighbouring handlers' types do not fit (detected when the pipeline is built).
    public static var typeMismatch: Self { Self("handler type mismatch") }
    /// No handler with that name or type.
    public static var notFound: Self { Self("handler not found") }
    /// A handler with that name is already in the pipeline.
    public static var duplicateName: Self { Self("duplicate handler name") }
    /// The handler was already removed.
    public static var alreadyRemoved: Self { Self("handler already removed") }
    /// The handler is neither a `ChannelInboundHandler` nor a `ChannelOutboundHandler`, so
    /// no event would reach it.
    public static var notAHandler: Self { Self("not an inbound or outbound handler") }
    /// The channel is closed; its pipeline takes no handlers.
    public static var pipelineClosed: Self { Self("pipeline closed") }
}
