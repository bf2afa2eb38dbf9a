/// Something registered with a loop's selector: a socket channel or a listener.
///
/// Loop-confined: both callbacks run on the loop's thread.
protocol Selectable: AnyObject {
    /// The kernel reported readiness.
    func ready(_ events: IOEvents)
    /// The loop is shutting down: close now.
    func closeForShutdown()
}

/// Where an owner sits in its loop's selector: what it passes back to change or end its
/// registration.
struct SelectorRegistration: Equatable {
    let slot: UInt32
    let id: UInt32

    /// Not registered (a slot no selector hands out).
    static let none = SelectorRegistration(slot: .max, id: 0)
}

/// The loop's epoll instance plus the eventfd that wakes it.
///
/// Loop-confined, except `wakeup`, which any thread may call. Each registration gets a slot
/// in this loop's table (reused once freed) and a fresh ID; epoll user data carries
/// (ID, slot), so an event for a registration that ended earlier in the same batch (its slot
/// perhaps taken again) is recognised as stale and dropped.
final class Selector {
    /// The owner first and the two 32-bit fields together: 24 bytes rather than 32.
    private struct Registration {
        let owner: any Selectable
        let id: UInt32
        var interest: IOEvents
    }

    private let epollFD: Int32
    let wakeupFD: Int32
    private let events = EpollEventBuffer(capacity: 256)
    /// Indexed by slot: this loop's registrations only. (Indexed by fd, every loop's table
    /// spanned the process's descriptors: 48 B of every idle connection with two loops.)
    private var registrations: [Registration?] = []
    /// Slots freed by `deregister`, taken again before the table grows.
    private var freeSlots: [UInt32] = []
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

    /// Starts watching `fd` for `owner`; the registration is what the owner passes back.
    func register(_ owner: any Selectable, fd: Int32, interest: IOEvents) throws -> SelectorRegistration {
        guard !self.refusesRegistrations else {
            throw ChannelError(.eventLoopShutdown, "the event loop is shutting down")
        }
        let id = self.nextID
        let slot = self.freeSlots.last ?? UInt32(self.registrations.count)
        let registration = SelectorRegistration(slot: slot, id: id)
        try Epoll.add(self.epollFD, fd: fd, events: interest, userData: Self.userData(registration))
        self.nextID = self.nextID == UInt32.max ? 1 : self.nextID + 1
        if slot == self.freeSlots.last {
            self.freeSlots.removeLast()
        } else {
            self.registrations.append(nil)
        }
        self.registrations[Int(slot)] = Registration(owner: owner, id: id, interest: interest)
        self.registeredCount += 1
        return registration
    }

    /// Changes what `fd` is watched for; a no-op when nothing changes.
    func reregister(_ registration: SelectorRegistration, fd: Int32, interest: IOEvents) throws {
        guard let current = self.current(registration), current.interest != interest else { return }
        try Epoll.modify(self.epollFD, fd: fd, events: interest, userData: Self.userData(registration))
        self.registrations[Int(registration.slot)]?.interest = interest
    }

    /// Stops watching `fd`. Call before closing it.
    func deregister(_ registration: SelectorRegistration, fd: Int32) {
        guard self.current(registration) != nil else { return }
        self.registrations[Int(registration.slot)] = nil
        self.freeSlots.append(registration.slot)
        self.registeredCount -= 1
        // A failure here means the fd is already gone from the epoll set; nothing to undo.
        try? Epoll.remove(self.epollFD, fd: fd)
    }

    private func current(_ registration: SelectorRegistration) -> Registration? {
        let slot = Int(registration.slot)
        guard slot < self.registrations.count, let current = self.registrations[slot], current.id == registration.id
        else { return nil }
        return current
    }

    private static func userData(_ registration: SelectorRegistration) -> UInt64 {
        UInt64(registration.id) << 32 | UInt64(registration.slot)
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
            let slot = Int(UInt32(truncatingIfNeeded: event.userData))
            let id = UInt32(truncatingIfNeeded: event.userData >> 32)
            guard slot < self.registrations.count, let registration = self.registrations[slot], registration.id == id
            else {
                continue // stale: deregistered (and its slot maybe taken again) earlier in this batch
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
