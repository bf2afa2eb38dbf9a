/// Which memcache commands the server at the other end speaks, and so which ones a client
/// sends: the everyday commands of `MemcacheRequestSender` pick their wire form by it, and the
/// client handler refuses, before sending, a request the server would not understand.
///
/// Thread-safe (a value).
/// - `meta` (the default): memcached 1.6 and later. Single-key commands go as meta commands
///   (`mg`, `ms`, `md`, `ma`), which memcached answers in batches; multi-key gets and
///   administrative commands as text.
/// - `text`: the classic text protocol only (`get`/`gets`, `set`… `cas`, `delete`,
///   `incr`/`decr`, `touch`, `gat`/`gats`, `stats`, `flush_all`, `version`, `verbosity`), for
///   servers and proxies without meta commands. Binary keys cannot be sent.
/// - `twemproxy`: what twemproxy (nutcracker) forwards: the text protocol without `gat`/`gats`,
///   `stats`, `flush_all` and `verbosity`. A proxy closes the connection on a command it does
///   not know, failing every call in flight on it; here such a call fails alone, with
///   `MemcacheError.unsupportedCommand`, and nothing is sent.
///
/// ```swift
/// var configuration = MemcachePool.Configuration(host: "127.0.0.1", port: 22121)
/// configuration.wireProtocol = .twemproxy
/// ```
public enum MemcacheProtocol: String, Sendable, CaseIterable, CustomStringConvertible {
    case meta
    case text
    case twemproxy

    public var description: String { self.rawValue }

    /// Why `request` cannot be sent to a server that speaks this protocol, or nil when it can.
    package func refusal(of request: MemcacheRequest) -> MemcacheError? {
        switch (self, request) {
        case (.meta, _):
            return nil
        case (.text, .meta), (.text, .metaBatch), (.twemproxy, .meta), (.twemproxy, .metaBatch):
            let what = request.commandName == "batch" ? "a quiet meta batch" : request.commandName
            return MemcacheError(.unsupportedCommand, "\(what) is a meta command; the \(self) protocol has none")
        case (.twemproxy, .getAndTouch), (.twemproxy, .stats), (.twemproxy, .flushAll), (.twemproxy, .verbosity):
            return MemcacheError(.unsupportedCommand, "twemproxy does not forward \(request.commandName)")
        case (.text, _), (.twemproxy, _):
            return nil
        }
    }
}
