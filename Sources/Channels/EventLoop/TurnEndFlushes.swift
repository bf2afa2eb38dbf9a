/// The flushes a loop owes at the end of its current turn: one per handler context that asked
/// (`ChannelHandlerContext.flushAtEndOfTurn()`), however many times it asked.
///
/// Loop-confined: used only on the owning loop's thread. A loop turn is one pass of the run
/// loop: readiness events, due timers, queued tasks; the flushes run after all of them, so
/// every request written during the turn — by a handler reacting to a read, by callers
/// resumed in the turn, by tasks from other threads — leaves in one `writev` per channel.
/// Registering costs an array append and no allocation once the array has grown.
final class TurnEndFlushes {
    // Appended to, swapped and cleared by array operations only (the flushes run on a copy):
    // the runtime's exclusivity check, per turn and per registered flush, is off.
    @exclusivity(unchecked) private var pending: [ChannelHandlerContext] = []
    @exclusivity(unchecked) private var running: [ChannelHandlerContext] = []

    /// Whether a flush is owed (the loop must not sleep before running them).
    var isEmpty: Bool { self.pending.isEmpty }

    func append(_ context: ChannelHandlerContext) {
        self.pending.append(context)
    }

    /// Runs the owed flushes. A flush may ask for another one (a handler that writes when its
    /// previous write completes); those run too, in a bounded number of rounds, and the rest
    /// are left for the next turn.
    func run() {
        var rounds = 0
        while !self.pending.isEmpty, rounds < 8 {
            rounds += 1
            swap(&self.pending, &self.running)
            for context in self.running {
                context.runTurnEndFlush()
            }
            self.running.removeAll(keepingCapacity: true)
        }
    }
}

/// A loop that runs `TurnEndFlushes` at the end of each turn: `SelectableEventLoop` and
/// `EmbeddedEventLoop`. A foreign `EventLoop` implementation gets the fallback: one task per
/// flush, queued with `execute`.
protocol TurnEndFlushing: EventLoop {
    var turnEndFlushes: TurnEndFlushes { get }
}
