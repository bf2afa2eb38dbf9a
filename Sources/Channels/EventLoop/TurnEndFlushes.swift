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
    // SAFETY: each entry owns one retain of its context, taken by `append` and given back
    // once its flush has run (or by `deinit`): an array of strong references retained and
    // released each context twice more per turn, iterating it and clearing it.
    @exclusivity(unchecked) private var pending: [Unmanaged<ChannelHandlerContext>] = []
    @exclusivity(unchecked) private var running: [Unmanaged<ChannelHandlerContext>] = []

    deinit {
        for context in self.pending { context.release() }
    }

    /// Whether a flush is owed (the loop must not sleep before running them).
    var isEmpty: Bool { self.pending.isEmpty }

    func append(_ context: ChannelHandlerContext) {
        // SAFETY: the retain taken here is the entry's own, given back by `run` or `deinit`.
        self.pending.append(Unmanaged.passRetained(context))
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
                // SAFETY: the entry's own retain keeps the context alive through its flush.
                context._withUnsafeGuaranteedRef { $0.runTurnEndFlush() }
                context.release()
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
