/// An error of a pipeline operation: adding, removing or finding handlers, or a message of a
/// type the next handler does not take.
///
/// Thread-safe (a value).
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }

        /// Neighbouring handlers' types do not fit (detected when the pipeline is built).
        public static let typeMismatch = Code("handler type mismatch")
        /// No handler with that name or type.
        public static let notFound = Code("handler not found")
        /// A handler with that name is already in the pipeline.
        public static let duplicateName = Code("duplicate handler name")
        /// The handler was already removed.
        public static let alreadyRemoved = Code("handler already removed")
        /// The channel is closed; its pipeline takes no handlers.
        public static let pipelineClosed = Code("pipeline closed")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(self.code): \(self.message)" }
}
