import Channels
import Codecs

/// A request on the wire whose reply has not arrived: who gets the reply, and what shape the
/// reply has.
///
/// Loop-confined (kept in `MemcacheClientHandler`'s queue).
struct MemcacheOutstandingRequest {
    /// What reply a request gets.
    enum Reply {
        /// One reply.
        case one
        /// Replies until the last `MN` (a quiet batch closed by `mn`): those before it go to
        /// `onPartial` — including the `MN` of each `mn` inside the batch (`fences` of them
        /// are still to come), which marks where the replies of the commands before it end —
        /// and the last `MN` completes the request.
        case untilNoop(onPartial: (@Sendable (MemcacheResponse) -> Void)?, fences: Int)
        /// One quiet meta command sent with `mn` after it: the reply the quiet mode kept, or,
        /// when it kept none, the status it suppressed (`EN` for `mg`, `HD` otherwise).
        case quiet(suppressed: MemcacheMetaResponse.Status, kept: MemcacheResponse?)
    }

    let responder: MemcacheClientHandler.Responder
    var reply: Reply
    /// Whether finishing it gives a pool lease back.
    let releasesLease: Bool
    /// Whether part of its reply was delivered already (a batch's kept replies): then it
    /// must not be sent again if the connection dies.
    var replyStarted = false
}
