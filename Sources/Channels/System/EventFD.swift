import CLinux
import Glibc

/// The eventfd that wakes a sleeping loop from another thread.
enum EventFD {
    @inline(never)
    static func create() throws -> Int32 {
        try syscallBlocking("eventfd") { eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK)) }
    }

    /// Adds one to the counter, making the fd readable. A full counter (`EAGAIN`) already
    /// means "readable", so it is not an error.
    @inline(never)
    static func signal(_ fd: Int32) {
        var one: UInt64 = 1
        _ = try? syscall("eventfd write") { Glibc.write(fd, &one, 8) }
    }

    /// Resets the counter so the fd stops being readable.
    @inline(never)
    static func drain(_ fd: Int32) {
        var value: UInt64 = 0
        _ = try? syscall("eventfd read") { Glibc.read(fd, &value, 8) }
    }
}
