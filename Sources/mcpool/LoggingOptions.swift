import ArgumentParser
import Channels
import Logging

/// `--log-level`: what the library's swift-log messages show on standard error (standard
/// output stays the command's own: tables, JSON, values).
struct LoggingOptions: ParsableArguments {
    @Option(
        help:
            "Library log messages shown on standard error at this level and above: trace, debug, info, notice, warning, error, critical (default: info for serve, error for bench, whose summary reports failures)."
    )
    var logLevel: String?

    func validate() throws {
        guard self.logLevel.map({ Logger.Level(rawValue: $0) != nil }) ?? true else {
            throw ValidationError("--log-level is one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// Sends every logger of the process to standard error at the chosen level. swift-log
    /// allows one bootstrap per process: later calls (tests running several commands) keep
    /// the first.
    func bootstrap(defaultLevel: Logger.Level) {
        let level = self.logLevel.flatMap { Logger.Level(rawValue: $0) } ?? defaultLevel
        Self.once.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }

    private static let once = LockedValue(false)
}
