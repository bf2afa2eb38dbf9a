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

    /// The first waiter to hand a connection to; any more are a seldom answer. Most events
    /// serve at most one, kept inline: no array to allocate, and none to release (a nil
    /// array was still a `swift_release` call when every empty action was dropped, once per
    /// pooled get, counted with a uprobe).
    private(set) var firstServe: Serve?

    /// Hand these connections to their waiters.
    var serve: Serves { Serves(first: self.firstServe, rest: self.seldom?.moreServes ?? []) }

    /// Whether any waiter is served (read before `serve`, which copies).
    var servesAnyone: Bool { self.firstServe != nil }

    /// Moves the first waiter to serve out, for the pool executing the action, which drops it
    /// after: reading `firstServe` copied the waiter and the connection (a retain and a release
    /// of each, per lease handed to a waiter), and dropping the action released them again.
    mutating func takeFirstServe() -> Serve? {
        self.firstServe.take()
    }

    /// The waiters to serve after the first (seldom any).
    var moreServes: [Serve] { self.seldom?.moreServes ?? [] }

    mutating func addServe(_ serve: Serve) {
        guard self.firstServe != nil else {
            self.firstServe = serve
            return
        }
        self.changeSeldom { $0.moreServes.append(serve) }
    }

    /// Start connecting this slot: ask the pool-wide budget and breaker first, then report
    /// `connectRefused`, or the connect's outcome.
    var connect: ConnectionID?
    /// This loop waits for budget another loop holds: ask the others to give back an idle
    /// connection.
    var askOthersToYield = false
    /// How long the lease a release ended was held (when the machine measures use time).
    var used: TimeAmount?

    /// The answers an event seldom gives, out of line: an action with none of them is made
    /// and dropped with no reference counting. (As five arrays, empty ones included, they
    /// cost five releases on every lease given back — per pooled get, counted with a uprobe
    /// on `swift_release`.)
    private var seldom: Seldom?

    /// Whether any of `fail`, `close`, `offerHandoff`, `longLeases` or `ping` was ever set
    /// (reading one of them otherwise makes an empty array: a retain and a release).
    var hasSeldomAnswers: Bool { self.seldom != nil }

    private struct Seldom {
        var moreServes: [Serve] = []
        var fail: [(waiter: Waiter, error: PoolError)] = []
        var close: [Connection] = []
        var offerHandoff: [WaiterID] = []
        var longLeases: [(id: ConnectionID, heldFor: TimeAmount)] = []
        var ping: [(id: ConnectionID, connection: Connection)] = []
    }

    /// Resume these waiters with their error.
    var fail: [(waiter: Waiter, error: PoolError)] {
        get { self.seldom?.fail ?? [] }
        set { self.changeSeldom { $0.fail = newValue } }
    }

    /// Close these connections (the machine learns of each when `connectionClosed` comes).
    var close: [Connection] {
        get { self.seldom?.close ?? [] }
        set { self.changeSeldom { $0.close = newValue } }
    }

    /// Offer these waiters to another loop that can serve them now (`handOff` takes one).
    var offerHandoff: [WaiterID] {
        get { self.seldom?.offerHandoff ?? [] }
        set { self.changeSeldom { $0.offerHandoff = newValue } }
    }

    /// Leases held longer than the limits' `longLease` so far, each reported once.
    var longLeases: [(id: ConnectionID, heldFor: TimeAmount)] {
        get { self.seldom?.longLeases ?? [] }
        set { self.changeSeldom { $0.longLeases = newValue } }
    }

    /// Ping these idle connections (leased for it): report `pingEnded` or `pingFailed`.
    var ping: [(id: ConnectionID, connection: Connection)] {
        get { self.seldom?.ping ?? [] }
        set { self.changeSeldom { $0.ping = newValue } }
    }

    /// Changes the seldom answers, made on first use.
    private mutating func changeSeldom(_ change: (inout Seldom) -> Void) {
        var seldom = self.seldom ?? Seldom()
        self.seldom = nil // the arrays stay uniquely referenced while they change
        change(&seldom)
        self.seldom = seldom
    }

    init() {}

    init(serve: Serve) {
        self.firstServe = serve
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

    /// The waiters to serve, in order.
    struct Serves: Sequence {
        fileprivate let first: Serve?
        fileprivate let rest: [Serve]

        var isEmpty: Bool { self.first == nil }
        var count: Int { self.first == nil ? 0 : 1 + self.rest.count }

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
        guard !self.servesAnyone, self.connect == nil, !self.askOthersToYield else { return false }
        guard let seldom = self.seldom else { return true }
        return seldom.moreServes.isEmpty && seldom.fail.isEmpty && seldom.close.isEmpty && seldom.offerHandoff.isEmpty
            && seldom.longLeases.isEmpty && seldom.ping.isEmpty
    }
}
