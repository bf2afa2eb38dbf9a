import Channels
public import Logging

/// A swift-log handler that keeps every message, for tests that check what was logged.
///
/// Thread-safe: the messages sit behind a lock; handlers are values sharing the one store.
///
/// ```swift
/// let logs = CapturedLogs()
/// configuration.logger = logs.logger(label: "test")
/// #expect(logs.messages.contains { $0.level == .warning && $0.message.hasPrefix("connect failed") })
/// ```
public final class CapturedLogs: Sendable {
    public struct Entry: Sendable {
        public let level: Logger.Level
        public let message: String
        public let metadata: [String: String]
    }

    private let entries = LockedValue<[Entry]>([])

    public init() {}

    /// A logger that records everything (at `.trace` and above) here.
    public func logger(label: String) -> Logger {
        var logger = Logger(label: label) { _ in Handler(store: self) }
        logger.logLevel = .trace
        return logger
    }

    public var messages: [Entry] { self.entries.withLock { $0 } }

    /// The messages at `level` or above that start with `prefix`.
    public func messages(atLeast level: Logger.Level, startingWith prefix: String) -> [Entry] {
        self.messages.filter { $0.level >= level && $0.message.hasPrefix(prefix) }
    }

    fileprivate func append(_ entry: Entry) {
        self.entries.withLock { $0.append(entry) }
    }

    private struct Handler: LogHandler {
        let store: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = self.metadata.merging(event.metadata ?? [:]) { _, new in new }
            self.store.append(
                Entry(level: event.level, message: "\(event.message)", metadata: all.mapValues { "\($0)" }))
        }
    }
}
