import Channels
@_spi(MemcacheWire) import Codecs

// The meta protocol (mg, ms, md, ma, mn, me) as memcached 1.6 answers it: returned flags
// in the order asked, `q` hiding the uninteresting status, and the recache protocol (`W`
// win, `Z` already won, `X` stale) for vivify (`N`), recache (`R`) and invalidation (`I`).
extension CommandProcessor {
    func meta(_ request: MemcacheMetaRequest, into out: inout ByteBuffer) {
        guard let key = request.key else {
            out.writeString("MN\r\n")
            return
        }
        let flags = MetaFlags(request.flags)
        switch request.command {
        case .get: self.metaGet(key, flags, into: &out)
        case .set: self.metaSet(key, value: request.value ?? ByteBuffer(), flags, into: &out)
        case .delete: self.metaDelete(key, flags, into: &out)
        case .arithmetic: self.metaArithmetic(key, flags, into: &out)
        case .debug: self.metaDebug(key, into: &out)
        case .noop: out.writeString("MN\r\n")
        }
    }

    // MARK: mg

    private enum GetOutcome {
        case miss
        case hit(StoredItem, wasFetched: Bool, win: Bool, alreadyWon: Bool)
    }

    private func metaGet(_ key: MemcacheKey, _ flags: MetaFlags, into out: inout ByteBuffer) {
        let outcome = self.store.withItem(key.bytes, bump: !flags.has("u")) { item, newCAS, context -> GetOutcome in
            guard var found = item else {
                context.statistics.getMisses += 1
                guard let ttl = flags.number("N") else { return .miss }
                // Vivify: a placeholder whose creator wins the right to fill it.
                let placeholder = StoredItem(
                    key: key.bytes, value: ByteBuffer(), flags: 0, expiry: expiryTime(ttl: ttl, now: context.now),
                    cas: newCAS, storedAt: context.now, lastAccess: context.now, recacheWon: true)
                item = placeholder
                return .hit(placeholder, wasFetched: false, win: true, alreadyWon: false)
            }
            context.statistics.getHits += 1
            var win = false
            var alreadyWon = false
            let remaining = found.remainingTTL(now: context.now)
            let recacheDue = flags.number("R").map { remaining != -1 && remaining < $0 } ?? false
            if found.stale || recacheDue {
                if found.recacheWon {
                    alreadyWon = true
                } else {
                    found.recacheWon = true
                    win = true
                }
            } else if found.recacheWon {
                alreadyWon = true
            }
            if let ttl = flags.number("T") {
                context.statistics.touches += 1
                found.expiry = expiryTime(ttl: ttl, now: context.now)
            }
            let wasFetched = found.fetched
            let reported = found
            if !flags.has("u") {
                found.fetched = true
                found.lastAccess = context.now
            }
            item = found
            return .hit(reported, wasFetched: wasFetched, win: win, alreadyWon: alreadyWon)
        }
        switch outcome {
        case .miss:
            guard !flags.has("q") else { return }
            out.writeString("EN")
            self.writeReturned(flags, key: key, item: nil, into: &out)
            out.writeCRLF()
        case .hit(let item, let wasFetched, let win, let alreadyWon):
            let withValue = flags.has("v")
            if withValue {
                out.reserveCapacity(minimumWritableBytes: item.value.readableBytes + 64)
                out.writeString("VA ")
                out.writeDecimal(item.value.readableBytes)
            } else {
                out.writeString("HD")
            }
            self.writeReturned(flags, key: key, item: item, wasFetched: wasFetched, into: &out)
            if alreadyWon { out.writeString(" Z") }
            if item.stale { out.writeString(" X") }
            if win { out.writeString(" W") }
            out.writeCRLF()
            if withValue {
                out.writeImmutableBuffer(item.value)
                out.writeCRLF()
            }
        }
    }

    // MARK: ms

    private func metaSet(_ key: MemcacheKey, value: ByteBuffer, _ flags: MetaFlags, into out: inout ByteBuffer) {
        guard key.bytes.count + value.readableBytes + StoredItem.overhead <= self.store.maximumItemSize else {
            self.store.withItem(key.bytes) { item, _, _ in item = nil }
            self.reply(.error(MemcacheError(.serverError, "out of memory storing object")), noreply: false, into: &out)
            return
        }
        let mode = flags.token("M")?.first ?? UInt8(ascii: "S")
        guard let storeMode = Self.storeModes[mode] else {
            self.reply(.error(MemcacheError(.clientError, "invalid mode for ms STORE")), noreply: false, into: &out)
            return
        }
        let (status, stored) = self.store.withItem(key.bytes) { item, newCAS, context -> (String, StoredItem?) in
            context.statistics.sets += 1
            if let expected = flags.number("C").map(UInt64.init) {
                guard let existing = item else { return ("NF", nil) }
                guard existing.cas == expected else { return ("EX", nil) }
            }
            let fresh = StoredItem(
                key: key.bytes, value: value, flags: UInt32(clamping: flags.number("F") ?? 0),
                expiry: expiryTime(ttl: flags.number("T") ?? 0, now: context.now), cas: newCAS, storedAt: context.now,
                lastAccess: context.now, stale: flags.has("I") && item != nil)
            switch storeMode {
            case .set:
                item = fresh
            case .add:
                guard item == nil else { return ("NS", nil) }
                item = fresh
            case .replace:
                guard item != nil else { return ("NS", nil) }
                item = fresh
            case .append, .prepend:
                guard var existing = item else {
                    guard flags.number("N") != nil else { return ("NS", nil) }
                    item = fresh
                    return ("HD", fresh)
                }
                existing.value = Self.joined(existing.value, value, append: storeMode == .append)
                existing.cas = newCAS
                item = existing
            case .cas:
                item = fresh
            }
            return ("HD", item)
        }
        guard !(status == "HD" && flags.has("q")) else { return }
        out.writeString(status)
        self.writeReturned(flags, key: key, item: stored, into: &out)
        out.writeCRLF()
    }

    private static let storeModes: [UInt8: MemcacheStore.Mode] = [
        UInt8(ascii: "S"): .set, UInt8(ascii: "s"): .set, UInt8(ascii: "E"): .add, UInt8(ascii: "e"): .add,
        UInt8(ascii: "R"): .replace, UInt8(ascii: "r"): .replace, UInt8(ascii: "A"): .append,
        UInt8(ascii: "a"): .append,
        UInt8(ascii: "P"): .prepend, UInt8(ascii: "p"): .prepend,
    ]

    // MARK: md

    private func metaDelete(_ key: MemcacheKey, _ flags: MetaFlags, into out: inout ByteBuffer) {
        let status = self.store.withItem(key.bytes) { item, _, context -> String in
            guard var existing = item else { return "NF" }
            if let expected = flags.number("C"), existing.cas != UInt64(expected) { return "EX" }
            guard flags.has("I") else {
                item = nil
                return "HD"
            }
            // Invalidate: keep serving it as stale until someone recaches it.
            existing.stale = true
            existing.recacheWon = false
            if let ttl = flags.number("T") { existing.expiry = expiryTime(ttl: ttl, now: context.now) }
            item = existing
            return "HD"
        }
        guard !(status == "HD" && flags.has("q")) else { return }
        out.writeString(status)
        self.writeReturned(flags, key: key, item: nil, into: &out)
        out.writeCRLF()
    }

    // MARK: ma

    private func metaArithmetic(_ key: MemcacheKey, _ flags: MetaFlags, into out: inout ByteBuffer) {
        let mode = flags.token("M")?.first ?? UInt8(ascii: "I")
        let increment: Bool
        switch mode {
        case UInt8(ascii: "I"), UInt8(ascii: "i"), UInt8(ascii: "+"): increment = true
        case UInt8(ascii: "D"), UInt8(ascii: "d"), UInt8(ascii: "-"): increment = false
        default:
            self.reply(.error(MemcacheError(.clientError, "invalid mode for ma")), noreply: false, into: &out)
            return
        }
        let delta = flags.token("D").map { UInt64(memcacheDecimal: $0) } ?? 1
        let initial = flags.token("J").map { UInt64(memcacheDecimal: $0) } ?? 0
        guard let delta, let initial else {
            self.reply(
                .error(MemcacheError(.clientError, "bad token in command line format")), noreply: false, into: &out)
            return
        }
        let (result, item) = self.store.withItem(key.bytes) { item, newCAS, context -> (DeltaResult, StoredItem?) in
            guard let existing = item else {
                guard let ttl = flags.number("N") else { return (.notFound, nil) }
                var digits = ByteBuffer()
                digits.writeDecimal(initial)
                let created = StoredItem(
                    key: key.bytes, value: digits, flags: 0, expiry: expiryTime(ttl: ttl, now: context.now),
                    cas: newCAS,
                    storedAt: context.now, lastAccess: context.now)
                item = created
                return (.value(initial), created)
            }
            if let expected = flags.number("C"), existing.cas != UInt64(expected) { return (.notFound, existing) }
            let result = Self.applyDelta(
                to: &item, delta: delta, increment: increment, newCAS: newCAS, now: context.now)
            if let ttl = flags.number("T") { item?.expiry = expiryTime(ttl: ttl, now: context.now) }
            return (result, item)
        }
        switch result {
        case .notANumber:
            self.reply(.error(Self.nonNumeric), noreply: false, into: &out)
        case .notFound:
            out.writeString(item == nil ? "NF" : "EX")
            self.writeReturned(flags, key: key, item: nil, into: &out)
            out.writeCRLF()
        case .value(let number):
            var digits = ByteBuffer(capacity: 20)
            digits.writeDecimal(number)
            if flags.has("v") {
                out.writeString("VA ")
                out.writeDecimal(digits.readableBytes)
            } else {
                guard !flags.has("q") else { return }
                out.writeString("HD")
            }
            self.writeReturned(flags, key: key, item: item, into: &out)
            out.writeCRLF()
            if flags.has("v") {
                out.writeImmutableBuffer(digits)
                out.writeCRLF()
            }
        }
    }

    // MARK: me

    private func metaDebug(_ key: MemcacheKey, into out: inout ByteBuffer) {
        let found = self.store.withItem(key.bytes, bump: false) { item, _, context in item.map { ($0, context.now) } }
        guard let (item, now) = found else {
            out.writeString("EN\r\n")
            return
        }
        out.writeString("ME ")
        out.writeBytes(key.wireBytes)
        out.writeString(" exp=")
        out.writeDecimal(item.remainingTTL(now: now))
        out.writeString(" la=")
        out.writeDecimal(now - item.lastAccess)
        out.writeString(" cas=")
        out.writeDecimal(item.cas)
        out.writeString(item.fetched ? " fetch=yes" : " fetch=no")
        out.writeString(" cls=1 size=")
        out.writeDecimal(item.size)
        out.writeCRLF()
    }

    // MARK: Returned flags

    /// Writes the flags a meta command asked to see, in the order it asked: `O` and `k`
    /// always (also on a miss), the item's own (`f c s t h l`) when there is an item.
    private func writeReturned(
        _ flags: MetaFlags, key: MemcacheKey, item: StoredItem?, wasFetched: Bool = false, into out: inout ByteBuffer
    ) {
        let now = self.store.clock()
        for flag in flags.all {
            switch flag.letter {
            case UInt8(ascii: "O"):
                out.writeString(" O")
                out.writeBytes(flag.token)
            case UInt8(ascii: "k"):
                out.writeString(" k")
                out.writeBytes(key.wireBytes)
                if key.isBinary { out.writeString(" b") }
            case UInt8(ascii: "f"):
                guard let item else { continue }
                out.writeString(" f")
                out.writeDecimal(UInt64(item.flags))
            case UInt8(ascii: "c"):
                guard let item else { continue }
                out.writeString(" c")
                out.writeDecimal(item.cas)
            case UInt8(ascii: "s"):
                guard let item else { continue }
                out.writeString(" s")
                out.writeDecimal(item.value.readableBytes)
            case UInt8(ascii: "t"):
                guard let item else { continue }
                out.writeString(" t")
                out.writeDecimal(item.remainingTTL(now: now))
            case UInt8(ascii: "h"):
                guard item != nil else { continue }
                out.writeString(wasFetched ? " h1" : " h0")
            case UInt8(ascii: "l"):
                guard let item else { continue }
                out.writeString(" l")
                out.writeDecimal(now - item.lastAccess)
            default:
                continue
            }
        }
    }
}

/// The flags of one meta request, looked up by letter.
struct MetaFlags {
    let all: [MemcacheMetaFlag]

    init(_ flags: [MemcacheMetaFlag]) {
        self.all = flags
    }

    func has(_ letter: Character) -> Bool {
        self.token(letter) != nil
    }

    func token(_ letter: Character) -> [UInt8]? {
        guard let ascii = letter.asciiValue else { return nil }
        return self.all.first { $0.letter == ascii }?.token
    }

    /// The flag's token as a (possibly negative) number; nil when absent or not a number.
    func number(_ letter: Character) -> Int? {
        self.token(letter).flatMap { MemcacheSyntax.signed($0) }
    }
}
