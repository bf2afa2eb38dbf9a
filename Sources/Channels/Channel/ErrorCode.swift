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

/// An error made of a code, a human-readable message and, for some, the failure underneath.
///
/// Its `description` is the code and the message, with the cause in parentheses when there
/// is one: `connect failed: no address of "db" connected (connection refused)`. A cause's
/// code that reads the same as the code above it is left out, and so is a message said
/// again, so a failure wrapped on its way up through the layers names its kind once:
/// `connect failed: the server cannot be reached (cannot connect (connect failed: Connection
/// refused (errno 111)))` — the last `connect failed` there is the system call's, an `IOError`.
public protocol CodedError: Error, CustomStringConvertible {
    associatedtype Area
    var code: ErrorCode<Area> { get }
    var message: String { get }
    /// The underlying failure (an `IOError`, a connect's last error), when there is one.
    var cause: (any Error)? { get }
}

extension CodedError {
    /// None, for an error type that never wraps another.
    public var cause: (any Error)? { nil }

    public var description: String {
        let base = "\(self.code): \(self.message)"
        guard let cause = self.cause, let text = describeCause(cause, below: self.code.description, said: self.message)
        else { return base }
        return "\(base) (\(text))"
    }

    /// The code's name, readable through `any CodedError` (whose `code` has its own type).
    fileprivate var codeName: String { self.code.description }
}

/// A cause as a description shows it: without its code when that reads as `code` does,
/// without its message when that is `message` again, and so on down its own causes; nil
/// when it says nothing that the error above it has not.
private func describeCause(_ cause: any Error, below code: String, said message: String) -> String? {
    guard let coded = cause as? any CodedError else { return "\(cause)" }
    let own: String? =
        coded.message == message ? nil : coded.codeName == code ? coded.message : "\(coded.codeName): \(coded.message)"
    let deeper = coded.cause.flatMap { describeCause($0, below: coded.codeName, said: coded.message) }
    switch (own, deeper) {
    case (let own?, let deeper?): return "\(own) (\(deeper))"
    case (let own?, nil): return own
    case (nil, let deeper): return deeper
    }
}
