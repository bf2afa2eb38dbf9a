import Channels
import Codecs

/// The soak's wrong-value checker. Every value names its key and a version, and a version is
/// taken before its set is sent, so a value read back is right only if it names the key it
/// was read under and a version that was taken for that key: anything else is a value that
/// was never written there (another caller's reply, bytes out of line).
///
/// Thread-safe: the versions live in 64 lock stripes.
final class SoakChecker: Sendable {
    enum Verdict: Equatable {
        case right
        /// The value belongs to another key, names a version never taken, or is not a soak value.
        case wrong(String)
    }

    private let stripes: [LockedValue<[Int: UInt64]>] = (0..<64).map { _ in LockedValue([:]) }

    /// A fresh version for `key` (index), to write.
    func nextVersion(of key: Int) -> UInt64 {
        self.stripes[key % 64].withLock { versions in
            let next = versions[key, default: 0] + 1
            versions[key] = next
            return next
        }
    }

    /// The value of `version` of `key`: `"<key>|<version>|"` padded to `size` bytes with bytes
    /// that depend on both, so a value cut or spliced from two does not pass.
    static func value(key: Int, version: UInt64, size: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeString("\(key)|\(version)|")
        let fill = UInt8(truncatingIfNeeded: (UInt64(key) &* 31 &+ version) % 26) &+ UInt8(ascii: "a")
        if size > buffer.readableBytes { buffer.writeBytes(repeatElement(fill, count: size - buffer.readableBytes)) }
        return buffer
    }

    /// Whether `value`, read under `key`, is one that was written there.
    func check(_ value: ByteBuffer, key: Int) -> Verdict {
        let bytes = Array(value.readableBytesView)
        let fields = bytes.split(separator: UInt8(ascii: "|"), maxSplits: 2, omittingEmptySubsequences: false)
        guard fields.count == 3, let named = Int(String(decoding: fields[0], as: UTF8.self)),
            let version = UInt64(String(decoding: fields[1], as: UTF8.self))
        else { return .wrong("not a soak value: \(String(decoding: bytes.prefix(40), as: UTF8.self))") }
        guard named == key else { return .wrong("key \(key) read the value of key \(named)") }
        let taken = self.stripes[key % 64].withLock { $0[key] ?? 0 }
        guard version >= 1, version <= taken else {
            return .wrong("key \(key) read version \(version), only 1...\(taken) were written")
        }
        guard value == Self.value(key: key, version: version, size: bytes.count) else {
            return .wrong("key \(key) version \(version): the bytes after the header are not its own")
        }
        return .right
    }
}
