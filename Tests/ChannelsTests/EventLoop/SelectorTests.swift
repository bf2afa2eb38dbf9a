import Glibc
import Testing

@testable import Channels

@Suite("Selector")
struct SelectorTests {
    /// Records the readiness it is told of; on its first, runs `onReady` once.
    final class Owner: Selectable {
        var readyCount = 0
        var onReady: (() -> Void)?
        func ready(_ events: IOEvents) {
            self.readyCount += 1
            let action = self.onReady
            self.onReady = nil
            action?()
        }
        func closeForShutdown() {}
    }

    /// A connected pair of Unix sockets; the first end is readable once `readable` is set.
    private static func socketPair(readable: Bool) throws -> (Int32, Int32) {
        var ends: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0 else {
            throw IOError(errnoCode: errno, call: "socketpair")
        }
        if readable { _ = write(ends[1], "x", 1) }
        return (ends[0], ends[1])
    }

    @Test("a freed slot is taken again, with a new ID; a registration that ended is not changed or ended twice")
    func slotsAreReused() throws {
        let selector = try Selector()
        let (a, aPeer) = try Self.socketPair(readable: false)
        let (b, bPeer) = try Self.socketPair(readable: false)
        defer { for fd in [a, aPeer, b, bPeer] { close(fd) } }
        let first = try selector.register(Owner(), fd: a, interest: .read)
        let second = try selector.register(Owner(), fd: b, interest: .read)
        #expect(first.slot != second.slot)
        selector.deregister(first, fd: a)
        let third = try selector.register(Owner(), fd: a, interest: .read)
        #expect(third.slot == first.slot)
        #expect(third.id != first.id)
        #expect(selector.registeredCount == 2)
        // The ended registration names a slot that is now `third`'s: both calls are no-ops.
        selector.deregister(first, fd: a)
        try selector.reregister(first, fd: a, interest: [.read, .write])
        #expect(selector.registeredCount == 2)
        selector.deregister(third, fd: a)
        selector.deregister(second, fd: b)
        #expect(selector.registeredCount == 0)
    }

    @Test(
        "an event of a registration ended earlier in the same batch is dropped, not given to the owner that took its slot (50 rounds)"
    )
    func staleEventsAreDropped() throws {
        for _ in 0..<50 {
            let selector = try Selector()
            let (x, xPeer) = try Self.socketPair(readable: true)
            let (y, yPeer) = try Self.socketPair(readable: true)
            let (z, zPeer) = try Self.socketPair(readable: false)
            defer { for fd in [x, xPeer, y, yPeer, z, zPeer] { close(fd) } }
            let ownerX = Owner()
            let ownerY = Owner()
            let ownerZ = Owner()
            _ = try selector.register(ownerX, fd: x, interest: .read)
            let registrationY = try selector.register(ownerY, fd: y, interest: .read)
            var registrationZ: SelectorRegistration?
            // Whichever of x and y is reported first ends the other's registration and gives
            // its slot to z, whose socket has nothing to read.
            ownerX.onReady = {
                guard ownerY.readyCount == 0 else { return }
                selector.deregister(registrationY, fd: y)
                registrationZ = try? selector.register(ownerZ, fd: z, interest: .read)
            }
            try selector.wait(timeoutMilliseconds: 1000)
            #expect(ownerX.readyCount == 1)
            if ownerY.readyCount == 0 {
                #expect(registrationZ?.slot == registrationY.slot)
            }
            #expect(ownerZ.readyCount == 0)
        }
    }
}
