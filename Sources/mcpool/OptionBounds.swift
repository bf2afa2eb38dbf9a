import ArgumentParser

/// The ranges the commands accept for their counts and sizes: past them a number means a
/// mistake (a typo'd exponent, a size in the wrong unit), which gets one line naming the
/// option instead of an allocation the machine cannot make, an arithmetic trap, or a memory
/// limit that wrapped round.
enum OptionBounds {
    /// A port to listen on (0 picks a free one).
    static let port = 0...65535
    static let loops = 1...1024
    static let connections = 1...65_536
    /// A server's simultaneous clients (memcached's `-c`).
    static let serverConnections = 1...16_777_216
    static let callers = 1...1_048_576
    static let keys = 1...16_777_216
    /// memcached's own ceiling for `-I`.
    static let valueBytes = 0...(1 << 30)
    static let pipelineDepth = 1...1_048_576
    static let ratioWeight = 0...1_000_000
    static let messageBytes = 1...(64 << 20)
    /// Megabytes: a terabyte of items.
    static let memoryMegabytes = 1...(1 << 20)
    /// Kilobytes: memcached's `-I` ceiling, 1 GiB.
    static let itemKilobytes = 1...(1 << 20)

    /// Throws `ValidationError` ("--concurrency is 1...1048576") unless `value` is in `range`.
    static func check(_ value: Int, _ option: String, in range: ClosedRange<Int>) throws {
        guard range.contains(value) else {
            throw ValidationError("\(option) is \(range.lowerBound)...\(range.upperBound), not \(value)")
        }
    }
}
