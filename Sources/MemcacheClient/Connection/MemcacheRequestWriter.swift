import Channels
import Codecs

/// Encodes a request for `MemcacheClientHandler` and says what reply it will get.
enum MemcacheRequestWriter {
    /// Appends `request` to `buffer`; returns the reply it gets, nil for none (noreply).
    /// - Throws: `MemcacheError` when it cannot be encoded (`buffer` may then hold part of
    ///   it: the caller rolls back).
    static func write(
        _ request: MemcacheRequest,
        onPartial: (@Sendable (MemcacheResponse) -> Void)?,
        into buffer: inout ByteBuffer
    ) throws -> MemcacheReplyMatcher<MemcacheClientHandler.Waiter>.Expected? {
        try MemcacheRequestEncoder().encode(request, into: &buffer)
        switch request {
        case .metaBatch(let requests):
            var fences = 0
            for meta in requests where meta.command == .noop { fences += 1 }
            return .untilNoop(onPartial: onPartial, fences: fences)
        case .meta(let meta) where meta.isQuiet && meta.command != .noop:
            // A lone quiet command could leave nothing to match its reply against (a hit of
            // `mg … q` answers, a miss does not): `mn` closes it, so the stream lines up.
            buffer.writeString("mn\r\n")
            return .quiet(suppressed: meta.command == .get ? .miss : .headerOnly, kept: nil)
        default:
            return request.expectsNoReply ? nil : .one
        }
    }
}
