package import Channels
import Synchronization

/// Which loop takes a call from a caller on none of them (`ConnectionPool.indexForCallerOffTheLoops`).
///
/// Round robin, with two exceptions. A loop that is awake, not swamped and has a connection
/// with room is taken before the round-robin loop when that one is not all three: a call
/// handed to a sleeping loop wakes it — a context switch, and where its core is idle a
/// wake-up across cores (13–18 µs of CPU on a 2-vCPU VM: stop 58, docs/performance.md) —
/// while an awake loop takes it in its next turn for nothing. And a swamped round-robin loop
/// (awake with `swampedQueueLength` tasks or more waiting: busy with reads or a handler's
/// work of its own) gives the call to a sleeping loop instead. A loop without room would queue
/// the call or open a connection: such calls go round robin, so connections open spread over
/// the loops as before (stop 59).
package enum LoopChoice {
    /// Tasks waiting for a loop's next turn from which it counts as swamped. Measured
    /// (`mcpool bench --plain-tasks`, 64 callers, two loops; stop 59 in docs/performance.md):
    /// at 8 or 16 the second loop was woken about as often as round robin wakes it, at 64 the
    /// saving stays. A loop busy with work of its own gathers at most this many calls before
    /// they go to a sleeping loop.
    package static let swampedQueueLength = 64

    /// How many loops a choice looks at, the round-robin one included: each look reads
    /// another loop's cache lines.
    package static let loopsProbed = 4

    /// The loop for a call, given the round-robin loop `next` and every loop's queue and room.
    package static func preferred(from next: Int, queues: [LoopWorkQueue], rooms: [LoopRoom]) -> Int {
        self.preferred(from: next, of: queues.count) { index in
            (queuedIfAwake: queues[index].queuedTasksIfAwake, hasRoom: rooms[index].hasRoom)
        }
    }

    /// The choice itself, over `count` loops whose state `loop(i)` reads: its
    /// `queuedTasksIfAwake` (nil while it sleeps) and whether a connection there has room.
    @inline(__always)
    package static func preferred(
        from next: Int, of count: Int, loop: (Int) -> (queuedIfAwake: Int?, hasRoom: Bool)
    ) -> Int {
        let probed = min(count, Self.loopsProbed)
        var firstAsleep: Int?
        var nextIsSwamped = false
        var index = next
        for _ in 0..<probed {
            let state = loop(index)
            if let queued = state.queuedIfAwake {
                if queued < Self.swampedQueueLength {
                    if state.hasRoom { return index }
                } else if index == next {
                    nextIsSwamped = true
                }
            } else if firstAsleep == nil {
                firstAsleep = index
            }
            index = index + 1 == count ? 0 : index + 1
        }
        return nextIsSwamped ? firstAsleep ?? next : next
    }
}

/// One loop pool's published room: whether a connection there can take a lease now. Its
/// own object, so that a caller choosing a loop reads it without the loop pool's generic
/// type (`ConnectionPool` keeps an array of them).
package final class LoopRoom: Sendable {
    private let flag = Atomic<Bool>(false)
    package init() {}

    /// A hint: it may be a lease or a release old.
    package var hasRoom: Bool { self.flag.load(ordering: .relaxed) }

    /// On the loop pool's loop, when its room changes.
    func publish(_ hasRoom: Bool) { self.flag.store(hasRoom, ordering: .relaxed) }
}
