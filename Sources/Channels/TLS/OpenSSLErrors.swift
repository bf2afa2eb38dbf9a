import CTLS

/// Reads and clears OpenSSL's per-thread error queue, so one connection's failures never
/// leak into the next call.
enum OpenSSLErrors {
    /// Every queued error as readable text, oldest first; the queue is left empty.
    static func drain() -> [String] {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            reasons.append(String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return reasons
    }

    /// Empties the queue before a call whose failure we will read.
    static func clear() {
        ERR_clear_error()
    }

    /// The drained queue as one message, or `fallback` when it was empty.
    static func message(_ fallback: String) -> String {
        let reasons = self.drain()
        return reasons.isEmpty ? fallback : reasons.joined(separator: "; ")
    }
}
