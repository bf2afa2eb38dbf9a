/// Something registered with a loop's selector: a socket channel or a listener.
///
/// Loop-confined: both callbacks run on the loop's thread.
protocol Selectable: AnyObject {
    /// The kernel reported readiness.
    func ready(_ events: IOEvents)
    /// The loop is shutting down: close now.
    func closeForShutdown()
}

/// The loop's epoll instance plus the eventfd that wakes it.
///
/// Loop-confined, except `wakeup`, which any thread may call. Each registration gets a fresh
/// ID; epoll user data carries (ID, fd), so an event for an fd that was closed and reused in
/// the same batch is recognised as stale and dropped.
final class Selector {
    /// The owner first and the two 32-bit fields together: 24 bytes rather than 32, in an
    /// array every loop sizes to the process's highest fd (16 B of every idle connection
    /// with two loops).
    private struct Registration {
        let owner: any Selectable
        let id: UInt32
        var interest: IOEvents
    }

    private let epollFD: Int32
    let wakeupFD: Int32
    private let events = EpollEventBuffer(capacity: 256)
    /// Indexed by fd: descriptors are small integers, so an array beats a dictionary.
    private var registrations: [Registration?] = []
    private var nextID: UInt32 = 1
    private(set) var registeredCount = 0
    /// Set when the loop starts shutting down: nothing new may register, so the loop can
    /// finish once the channels it closed are gone.
    var refusesRegistrations = false

    init() throws {
        self.epollFD = try Epoll.create()
        do {
            self.wakeupFD = try EventFD.create()
            try Epoll.add(self.epollFD, fd: self.wakeupFD, events: .read, userData: Self.wakeupData)
        } catch {
            Posix.close(self.epollFD)
            throw error
        }
    }

    private static let wakeupData = UInt64.max

    func register(_ owner: any Selectable, fd: Int32, interest: IOEvents) throws {
        guard !self.refusesRegistrations else {
            throw ChannelError(.eventLoopShutdown, "the event loop is shutting down")
        }
        let id = self.nextID
        self.nextID = self.nextID == UInt32.max ? 1 : self.nextID + 1
        try Epoll.add(self.epollFD, fd: fd, events: interest, userData: UInt64(id) << 32 | UInt64(UInt32(fd)))
        let index = Int(fd)
        if index >= self.registrations.count {
            self.registrations.append(contentsOf: repeatElement(nil, count: index - self.registrations.count + 1))
        }
        self.registrations[index] = Registration(owner: owner, id: id, interest: interest)
        self.registeredCount += 1
    }

    /// Changes what `fd` is watched for; a no-op when nothing changes.
    func reregister(fd: Int32, interest: IOEvents) throws {
        let index = Int(fd)
        guard index < self.registrations.count, let registration = self.registrations[index],
            registration.interest != interest
        else { return }
        try Epoll.modify(
            self.epollFD, fd: fd, events: interest, userData: UInt64(registration.id) << 32 | UInt64(UInt32(fd)))
        self.registrations[index]?.interest = interest
    }

    /// Stops watching `fd`. Call before closing it.
    func deregister(fd: Int32) {
        let index = Int(fd)
        guard index < self.registrations.count, self.registrations[index] != nil else { return }
        self.registrations[index] = nil
        self.registeredCount -= 1
        // A failure here means the fd is already gone from the epoll set; nothing to undo.
        try? Epoll.remove(self.epollFD, fd: fd)
    }

    /// Waits up to `timeoutMilliseconds` (-1: until woken) and dispatches readiness.
    func wait(timeoutMilliseconds: Int32) throws {
        let count = try self.events.wait(self.epollFD, timeoutMilliseconds: timeoutMilliseconds)
        for index in 0..<count {
            let event = self.events[index]
            if event.userData == Self.wakeupData {
                EventFD.drain(self.wakeupFD)
                continue
            }
            let fd = Int(UInt32(truncatingIfNeeded: event.userData))
            let id = UInt32(truncatingIfNeeded: event.userData >> 32)
            guard fd < self.registrations.count, let registration = self.registrations[fd], registration.id == id else {
                continue // stale: closed (and maybe reused) earlier in this batch
            }
            registration.owner.ready(event.events)
        }
    }

    /// Every registered owner (for shutdown).
    var owners: [any Selectable] {
        self.registrations.compactMap { $0?.owner }
    }

    /// Wakes the loop from any thread.
    func wakeup() {
        EventFD.signal(self.wakeupFD)
    }

    /// The descriptors close with the selector (when its loop is deallocated), never while a
    /// thread that may still call `wakeup` holds the loop.
    deinit {
        Posix.close(self.wakeupFD)
        Posix.close(self.epollFD)
    }
}
