/// A message travelling through a pipeline, boxed so that handlers of any types can be
/// chained; bytes travel unboxed.
///
/// Loop-confined: messages are created and consumed on the channel's loop. Handlers normally
/// use `wrapInboundOut`/`unwrapInboundIn` (and the outbound pair) instead of this type.
public struct PipelineMessage {
    @usableFromInline
    enum Storage {
        case buffer(ByteBuffer)
        case other(Any)
    }

    @usableFromInline let storage: Storage

    @inlinable
    public init<T>(_ value: T) {
        if let buffer = value as? ByteBuffer {
            self.storage = .buffer(buffer)
        } else {
            self.storage = .other(value)
        }
    }

    @inlinable
    public init(_ buffer: ByteBuffer) {
        self.storage = .buffer(buffer)
    }

    /// The message as a `T`, or nil when it is something else.
    @inlinable
    public func unwrap<T>(as type: T.Type = T.self) -> T? {
        switch self.storage {
        case .buffer(let buffer): return buffer as? T
        case .other(let value): return value as? T
        }
    }

    /// Whether the message's dynamic type is exactly `T`: a metadata comparison, no cast.
    @inlinable
    func hasExactType<T>(_ type: T.Type) -> Bool {
        switch self.storage {
        case .buffer: return T.self == ByteBuffer.self
        case .other(let value): return ObjectIdentifier(Swift.type(of: value)) == ObjectIdentifier(T.self)
        }
    }

    /// The message's bytes, when it is a `ByteBuffer`.
    @inlinable
    public var buffer: ByteBuffer? {
        if case .buffer(let buffer) = self.storage { return buffer }
        return nil
    }

    @usableFromInline
    var typeDescription: String {
        switch self.storage {
        case .buffer: return "ByteBuffer"
        case .other(let value): return String(describing: type(of: value))
        }
    }
}
