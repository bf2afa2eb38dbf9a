import Channels
import Synchronization

/// What `stats conns` says of one open connection: its addresses, its state and when it last
/// sent a request.
///
/// Thread-safe: written by the connection's loop (the time once per read burst, the state
/// when it changes), read by whichever connection runs `stats conns`.
final class ConnectionRecord: Sendable {
    enum State: UInt8 {
        /// Waiting for requests (memcached's `conn_waiting`).
        case waiting
        /// Paused because the peer does not take its replies (`conn_mwrite`).
        case writing
        /// Closing (`conn_closing`).
        case closing

        var name: String {
            switch self {
            case .waiting: return "conn_waiting"
            case .writing: return "conn_mwrite"
            case .closing: return "conn_closing"
            }
        }
    }

    /// A number unique in the server (memcached shows the file descriptor).
    let number: Int
    /// The peer's address, written out only for `stats conns` (as a string it cost another
    /// allocation per connection).
    let peer: SocketAddress?
    private let lastRequest: Atomic<Int>
    private let stateValue = Atomic<UInt8>(State.waiting.rawValue)

    init(number: Int, peer: SocketAddress?, now: Int) {
        self.number = number
        self.peer = peer
        self.lastRequest = Atomic(now)
    }

    func requested(at now: Int) { self.lastRequest.store(now, ordering: .relaxed) }
    func set(_ state: State) { self.stateValue.store(state.rawValue, ordering: .relaxed) }

    /// `tcp:HOST:PORT` or `unix:PATH`, as memcached writes an address.
    static func name(_ address: SocketAddress?) -> String {
        guard let address else { return "unknown" }
        let text = "\(address)"
        return text.hasPrefix("unix:") ? text : "tcp:\(text)"
    }

    /// The `stats conns` lines of this connection, accepted by the server listening on
    /// `listenAddress` (written out once per server, not kept by every record: 16 B of every
    /// idle connection).
    func statsLines(now: Int, listenAddress: String) -> [(name: String, value: String)] {
        let state = State(rawValue: self.stateValue.load(ordering: .relaxed)) ?? .waiting
        return [
            ("\(self.number):addr", Self.name(self.peer)), ("\(self.number):listen_addr", listenAddress),
            ("\(self.number):state", state.name),
            ("\(self.number):secs_since_last_cmd", "\(max(now - self.lastRequest.load(ordering: .relaxed), 0))"),
        ]
    }
}
