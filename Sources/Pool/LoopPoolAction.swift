import Channels

/// What a loop's pool must do after one event: the machine's only answer, executed by
/// `LoopPool` in one place.
///
/// Loop-confined (a value). Most events answer with an empty action or one field set; none
/// allocates unless something is in it (empty arrays share one storage).
struct LoopPoolAction<Connection: AnyObject, Waiter> {
    /// A waiter gets a connection (it had waited `waited`; nil: it was served at once).
    struct Serve {
        let waiter: Waiter
        let id: ConnectionID
        let connection: Connection
        let waited: TimeAmount?
    }

    /// Hand these connections to their waiters.
    var serve = Serves()
    /// Resume these waiters with their error.
    var fail: [(waiter: Waiter, error: PoolError)] = []
    /// Start connecting this slot: ask the pool-wide budget and breaker first, then report
    /// `connectRefused`, or the connect's outcome.
    var connect: ConnectionID?
    /// Close these connections (the machine learns of each when `connectionClosed` comes).
    var close: [Connection] = []
    /// Offer these waiters to another loop that can serve them now (`handOff` takes one).
    var offerHandoff: [WaiterID] = []
    /// This loop waits for budget another loop holds: ask the others to give back an idle
    /// connection.
    var askOthersToYield = false
    /// How long the lease a release ended was held (when the machine measures use time).
    var used: TimeAmount?
    /// Leases held longer than the limits' `longLease` so far, each reported once.
    var longLeases: [(id: ConnectionID, heldFor: TimeAmount)] = []
    /// Ping these idle connections (leased for it): report `pingEnded` or `pingFailed`.
    var ping: [(id: ConnectionID, connection: Connection)] = []

    init() {}

    init(serve: Serve) {
        self.serve.append(serve)
    }

    init(fail waiter: Waiter, _ error: PoolError) {
        self.fail = [(waiter, error)]
    }

    init(connect: ConnectionID?) {
        self.connect = connect
    }

    init(close connection: Connection?, connect: ConnectionID? = nil) {
        if let connection { self.close = [connection] }
        self.connect = connect
    }

    /// The waiters to serve: most events serve at most one, which is kept inline (no array,
    /// no allocation on the release that hands a connection to the next waiter).
    struct Serves: Sequence {
        private var first: Serve?
        private var rest: [Serve] = []

        var isEmpty: Bool { self.first == nil }
        var count: Int { self.first == nil ? 0 : 1 + self.rest.count }

        mutating func append(_ serve: Serve) {
            if self.first == nil { self.first = serve } else { self.rest.append(serve) }
        }

        struct Iterator: IteratorProtocol {
            fileprivate var first: Serve?
            fileprivate var rest: IndexingIterator<[Serve]>

            mutating func next() -> Serve? {
                if let first = self.first {
                    self.first = nil
                    return first
                }
                return self.rest.next()
            }
        }

        func makeIterator() -> Iterator {
            Iterator(first: self.first, rest: self.rest.makeIterator())
        }
    }

    var isEmpty: Bool {
        self.serve.isEmpty && self.fail.isEmpty && self.connect == nil && self.close.isEmpty
            && self.offerHandoff.isEmpty
            && !self.askOthersToYield && self.longLeases.isEmpty && self.ping.isEmpty
    }
}
