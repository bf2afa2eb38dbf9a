import Foundation
import Glibc

/// Open sockets (those with an inode, i.e. held by a descriptor; not TIME_WAIT remnants)
/// whose local or remote port is `port`, from the kernel's table. Counting by port keeps the
/// check exact while other tests open sockets in parallel.
///
/// Only the lines that mention the port (found with `memchr` and `memcmp`) are split into
/// fields: the table holds every socket of the suite, TIME_WAIT ones included, and splitting
/// all of them in a debug build under a sanitizer, polled in a loop, took a concurrency-pool
/// thread for minutes.
public func openSocketCount(port: Int) -> Int {
    let needle = Array(String(format: ":%04X ", port).utf8)
    var count = 0
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        // /proc files claim a size of 0: read until EOF rather than by size.
        guard let handle = FileHandle(forReadingAtPath: path), let data = try? handle.readToEnd() else { continue }
        try? handle.close()
        let lines = [UInt8](data).withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> [String] in
            guard let base = bytes.baseAddress else { return [] }
            var matching: [String] = []
            var start = 0
            while start < bytes.count {
                var end = bytes.count
                if let newline = memchr(base + start, Int32(UInt8(ascii: "\n")), bytes.count - start) {
                    end = UnsafeRawPointer(newline) - base
                }
                if contains(needle, in: base + start, count: end - start) {
                    let line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                    matching.append(String(decoding: line, as: UTF8.self))
                }
                start = end + 1
            }
            return matching
        }
        for line in lines {
            let fields = line.split(separator: " ")
            guard fields.count > 9 else { continue }
            let ports = [fields[1], fields[2]].compactMap {
                $0.split(separator: ":").last.flatMap { Int($0, radix: 16) }
            }
            if ports.contains(port), fields[9] != "0" { count += 1 }
        }
    }
    return count
}

/// Whether `needle` (which starts with ":") occurs in the `count` bytes at `start`: the colons
/// are found with `memchr`, and only there is it compared.
private func contains(_ needle: [UInt8], in start: UnsafeRawPointer, count: Int) -> Bool {
    let end = start + count
    var cursor = start
    while end - cursor >= needle.count, let colon = memchr(cursor, Int32(needle[0]), end - cursor) {
        let at = UnsafeRawPointer(colon)
        if end - at >= needle.count, memcmp(at, needle, needle.count) == 0 { return true }
        cursor = at + 1
    }
    return false
}
