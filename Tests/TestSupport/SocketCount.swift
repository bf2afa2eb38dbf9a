import Foundation

/// Open sockets (those with an inode, i.e. held by a descriptor; not TIME_WAIT remnants)
/// whose local or remote port is `port`, from the kernel's table. Counting by port keeps the
/// check exact while other tests open sockets in parallel.
public func openSocketCount(port: Int) -> Int {
    var count = 0
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        // /proc files claim a size of 0: read until EOF rather than by size.
        guard let handle = FileHandle(forReadingAtPath: table), let data = try? handle.readToEnd() else { continue }
        try? handle.close()
        let text = String(decoding: data, as: UTF8.self)
        for line in text.split(separator: "\n").dropFirst() {
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
