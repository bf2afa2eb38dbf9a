import Glibc

/// The file a Unix-domain listener binds: what is at the path, whether anyone listens there,
/// and removing it again.
enum UnixSocketFile {
    /// What is at a path: nothing, a socket, or some other file (device and inode tell one
    /// file from a later one at the same path).
    enum State: Equatable {
        case absent
        case socket(device: UInt64, inode: UInt64)
        case other
    }

    @inline(never)
    static func state(atPath path: String) throws -> State {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            let code = errno
            if code == ENOENT { return .absent }
            throw IOError(errnoCode: code, call: "lstat")
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else { return .other }
        return .socket(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Whether a server accepts connections at `address` now: a connect succeeds, or finds
    /// the backlog full (`EAGAIN`). Refused means a stale file that nobody listens on.
    @inline(never)
    static func hasListener(_ address: SocketAddress) -> Bool {
        guard let fd = try? Posix.socket(family: AF_UNIX) else { return true } // cannot tell: assume in use
        defer { Posix.close(fd) }
        do {
            _ = try Posix.connect(fd, to: address)
            return true
        } catch let error as IOError {
            return error.errnoCode != ECONNREFUSED && error.errnoCode != ENOENT
        } catch {
            return true
        }
    }

    @inline(never)
    static func remove(atPath path: String) throws {
        _ = try syscallBlocking("unlink") { unlink(path) }
    }

    @inline(never)
    static func setMode(_ mode: UInt32, atPath path: String) throws {
        _ = try syscallBlocking("chmod") { chmod(path, mode_t(mode)) }
    }
}
