import CLinux
import Glibc

/// Readiness a registration cares about, or that the kernel reported.
struct IOEvents: OptionSet, Sendable {
    let rawValue: UInt32

    static let read = IOEvents(rawValue: EPOLLIN.rawValue)
    static let write = IOEvents(rawValue: EPOLLOUT.rawValue)
    /// The peer shut down its output (we will read end of input).
    static let readHangup = IOEvents(rawValue: EPOLLRDHUP.rawValue)
    /// Both directions are gone.
    static let hangup = IOEvents(rawValue: EPOLLHUP.rawValue)
    static let error = IOEvents(rawValue: EPOLLERR.rawValue)
    /// Edge-triggered: used when a channel wants nothing, so that a hang-up the channel is not
    /// ready to read yet is reported once instead of on every wait.
    static let edgeTriggered = IOEvents(rawValue: EPOLLET.rawValue)
}

/// One ready descriptor from `epoll_wait`.
struct EpollEvent {
    var events: IOEvents
    /// The registration's user data: registration ID and fd (see `Selector`).
    var userData: UInt64
}

/// The epoll calls. Level-triggered: a descriptor that still has data is reported again.
enum Epoll {
    @inline(never)
    static func create() throws -> Int32 {
        try syscallBlocking("epoll_create1") { epoll_create1(Int32(EPOLL_CLOEXEC)) }
    }

    @inline(never)
    static func add(_ epollFD: Int32, fd: Int32, events: IOEvents, userData: UInt64) throws {
        try self.control(epollFD, EPOLL_CTL_ADD, fd, events, userData)
    }

    @inline(never)
    static func modify(_ epollFD: Int32, fd: Int32, events: IOEvents, userData: UInt64) throws {
        try self.control(epollFD, EPOLL_CTL_MOD, fd, events, userData)
    }

    @inline(never)
    static func remove(_ epollFD: Int32, fd: Int32) throws {
        try self.control(epollFD, EPOLL_CTL_DEL, fd, [], 0)
    }

    private static func control(
        _ epollFD: Int32, _ operation: Int32, _ fd: Int32, _ events: IOEvents, _ userData: UInt64
    ) throws {
        // Hang-ups and errors are always reported, whatever `events` asks for.
        var event = epoll_event()
        event.events = events.rawValue
        event.data.u64 = userData
        _ = try syscallBlocking("epoll_ctl") { epoll_ctl(epollFD, operation, fd, &event) }
    }

    /// Waits for readiness. `timeoutMilliseconds` of -1 waits until woken.
    @inline(never)
    static func wait(
        _ epollFD: Int32,
        events: UnsafeMutablePointer<epoll_event>,
        capacity: Int,
        timeoutMilliseconds: Int32
    ) throws -> Int {
        switch try syscall("epoll_wait", { epoll_wait(epollFD, events, Int32(capacity), timeoutMilliseconds) }) {
        case .processed(let count): return Int(count)
        case .wouldBlock: return 0
        }
    }
}

/// A reusable array of `epoll_event` for one loop. Loop-confined.
final class EpollEventBuffer {
    let capacity: Int
    private let events: UnsafeMutablePointer<epoll_event>

    init(capacity: Int) {
        self.capacity = capacity
        self.events = .allocate(capacity: capacity)
    }

    deinit {
        self.events.deallocate()
    }

    /// Waits and returns how many events are ready; read them with `subscript`.
    func wait(_ epollFD: Int32, timeoutMilliseconds: Int32) throws -> Int {
        try Epoll.wait(epollFD, events: self.events, capacity: self.capacity, timeoutMilliseconds: timeoutMilliseconds)
    }

    subscript(index: Int) -> EpollEvent {
        EpollEvent(events: IOEvents(rawValue: self.events[index].events), userData: self.events[index].data.u64)
    }
}
