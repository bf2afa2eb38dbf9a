import Glibc

/// A small file of the kernel's (`/proc`, `/sys`) as text, for the command line's reports.
///
/// Thread-safe. Read with one `read(2)`: such files report a size of 0, which makes
/// Foundation's whole-file readers return nothing.
///
/// ```swift
/// let pages = ProcFile.text("/proc/self/statm").split(separator: " ").dropFirst().first
/// ```
package enum ProcFile {
    /// The file's first `limit` bytes as UTF-8 text; empty when it cannot be read.
    package static func text(_ path: String, limit: Int = 4096) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: limit)
        // SAFETY: read(2) writes at most `count` bytes into the array's storage, during the call.
        let count = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        return count > 0 ? String(decoding: bytes[0..<count], as: UTF8.self) : ""
    }
}
