import Channels
import Codecs

// The requests a busy server mostly sees — get/gets, mg with plain flags, set — answered
// straight from the read bytes: no request value, no key array, no token list. Anything
// else, and anything malformed, is left to the full decoder, which gives memcached's exact
// answers; so this path only has to be right for well-formed requests.
extension CommandProcessor {
    /// Answers the request at the start of `bytes` when it has one of the fast shapes;
    /// returns the bytes it took, or nil to leave the request to the decoder (other commands,
    /// bad input, or a set whose data has not all arrived).
    func processFast(_ bytes: UnsafeRawBufferPointer, now: Int, into out: inout ByteBuffer) -> Int? {
        guard var line = RequestLine(bytes, limit: Self.fastLineLimit), let command = line.next() else { return nil }
        switch command.count {
        case 2 where command.spells("mg"): return self.fastMetaGet(&line, now: now, into: &out)
        case 3 where command.spells("get"): return self.fastGet(&line, withCAS: false, now: now, into: &out)
        case 4 where command.spells("gets"): return self.fastGet(&line, withCAS: true, now: now, into: &out)
        case 3 where command.spells("set"): return self.fastSet(&line, now: now, into: &out)
        default: return nil
        }
    }

    /// Longer lines (a get of a hundred long keys) go to the decoder, which knows the limit.
    static let fastLineLimit = 8192

    // MARK: get, gets

    private func fastGet(_ line: inout RequestLine, withCAS: Bool, now: Int, into out: inout ByteBuffer) -> Int? {
        var keys = line
        var count = 0
        while let key = keys.next() {
            guard key.isTextKey else { return nil }
            count += 1
        }
        guard count > 0 else { return nil }
        while let key = line.next() {
            // The reply is written from the item in place, under its shard's lock.
            _ = self.store.withItemForGet(rawKey: key, now: now) { item -> Void? in
                item.writeTextValue(into: &out, cas: withCAS ? item.cas : nil)
            }
        }
        out.writeStaticString("END\r\n")
        return line.length
    }

    // MARK: mg

    /// `mg <key>` with return flags among `v f c k s t` only (no arguments, no `q`, `O`,
    /// `T`, `N`…). A stale item, or one someone holds the right to recache, is left to the
    /// full path, which answers with W/X/Z.
    private func fastMetaGet(_ line: inout RequestLine, now: Int, into out: inout ByteBuffer) -> Int? {
        guard let key = line.next(), key.isTextKey else { return nil }
        var flagsLine = line
        var withValue = false
        while let flag = flagsLine.next() {
            guard flag.count == 1, Self.fastMetaFlags.contains(flag[0]) else { return nil }
            if flag[0] == UInt8(ascii: "v") { withValue = true }
        }
        // The reply is written from the item in place, under its shard's lock.
        let lookup = self.store.withItemForGet(rawKey: key, now: now) { item -> Void? in
            guard !item.stale, !item.recacheWon else { return nil }
            item.writeMetaGetReply(flags: &line, key: key, withValue: withValue, now: now, into: &out)
            return ()
        }
        switch lookup {
        case .declined:
            return nil
        case .miss:
            out.writeStaticString("EN")
            while let flag = line.next() {
                guard flag[0] == UInt8(ascii: "k") else { continue }
                out.writeStaticString(" k")
                out.writeBytes(key)
            }
            out.writeCRLF()
        case .hit:
            break
        }
        return line.length
    }

    private static let fastMetaFlags: Set<UInt8> = Set("vfckst".utf8)

    // MARK: set

    /// `set <key> <flags> <ttl> <length> [noreply]` with its whole data block present.
    private func fastSet(_ line: inout RequestLine, now: Int, into out: inout ByteBuffer) -> Int? {
        guard let key = line.next(), key.isTextKey,
            let flags = line.next()?.decimal, flags <= UInt64(UInt32.max),
            let ttl = line.next()?.signedDecimal,
            let length = line.next()?.decimal, length <= UInt64(self.store.maximumValueLength)
        else { return nil }
        var noreply = false
        if let last = line.next() {
            guard last.spells("noreply"), line.next() == nil else { return nil }
            noreply = true
        }
        let valueStart = line.length
        let valueEnd = valueStart + Int(length)
        guard valueEnd + 2 <= line.bytes.count, line.bytes[valueEnd] == UInt8(ascii: "\r"),
            line.bytes[valueEnd + 1] == UInt8(ascii: "\n"),
            key.count + Int(length) + StoredItem.overhead <= self.store.maximumItemSize
        else { return nil }
        let value = UnsafeRawBufferPointer(rebasing: line.bytes[valueStart..<valueEnd])
        self.store.withItem(rawKey: key, now: now) { item, newCAS, context in
            context.statistics.sets += 1
            item = StoredItem(
                key: key, value: value, flags: UInt32(flags), expiry: expiryTime(ttl: ttl, now: now), cas: newCAS,
                now: now)
        }
        if !noreply { out.writeStaticString("STORED\r\n") }
        return valueEnd + 2
    }
}

extension ByteBuffer {
    /// Appends a literal's bytes (no String to walk).
    fileprivate mutating func writeStaticString(_ text: StaticString) {
        self.writeBytes(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}

extension StoredItem {
    /// `VA <size> <flags>…\r\n<value>\r\n`, or `HD <flags>…\r\n` without `v`: the flags
    /// of `line` in the order asked, the value copied straight from the item.
    fileprivate func writeMetaGetReply(
        flags line: inout RequestLine, key: UnsafeRawBufferPointer, withValue: Bool, now: Int,
        into out: inout ByteBuffer
    ) {
        self.withKeyAndValueBytes { _, value in
            out.reserveCapacity(minimumWritableBytes: value.count + 96)
            if withValue {
                out.writeStaticString("VA ")
                out.writeDecimal(value.count)
            } else {
                out.writeStaticString("HD")
            }
            while let flag = line.next() {
                switch flag[0] {
                case UInt8(ascii: "f"):
                    out.writeStaticString(" f")
                    out.writeDecimal(UInt64(self.flags))
                case UInt8(ascii: "c"):
                    out.writeStaticString(" c")
                    out.writeDecimal(self.cas)
                case UInt8(ascii: "k"):
                    out.writeStaticString(" k")
                    out.writeBytes(key)
                case UInt8(ascii: "s"):
                    out.writeStaticString(" s")
                    out.writeDecimal(value.count)
                case UInt8(ascii: "t"):
                    out.writeStaticString(" t")
                    out.writeDecimal(self.remainingTTL(now: now))
                default:
                    continue // v: said by VA
                }
            }
            out.writeCRLF()
            if withValue {
                out.writeBytes(value)
                out.writeCRLF()
            }
        }
    }
}
