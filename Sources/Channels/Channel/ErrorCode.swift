/// The code of one of this library's errors: a name, compared by value, scoped to its error
/// type by `Area` so codes of different areas never compare equal.
///
/// Thread-safe (a value). Each error type lists its codes as static members, so matching
/// reads naturally and adding a code breaks nobody (unlike adding an enum case):
///
/// ```swift
/// catch let error as ChannelError where error.code == .connectTimeout { retry() }
/// ```
public struct ErrorCode<Area>: Hashable, Sendable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// An error made of a code and a human-readable message.
public protocol CodedError: Error, CustomStringConvertible {
    associatedtype Area
    var code: ErrorCode<Area> { get }
    var message: String { get }
}

extension CodedError {
    public var description: String { "\(self.code): \(self.message)" }
}
