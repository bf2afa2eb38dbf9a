import Glibc

/// Whether the process's standard streams are terminals, for programs that show live
/// progress only to a person.
///
/// Thread-safe.
package enum Terminal {
    package enum Stream: Sendable { case standardOutput, standardError }

    /// Whether `stream` is a terminal (not a pipe or a file).
    package static func isInteractive(_ stream: Stream) -> Bool {
        isatty(stream == .standardOutput ? STDOUT_FILENO : STDERR_FILENO) == 1
    }
}
