import Codecs

// What the wrappers that transform values (`MemcacheCompression`, `MemcacheLargeValues`) need
// of the client flags: they mark a transformed value with a flag bit, so every read must see
// the flags, and every reply must hand the caller's flags back without the bit.

extension MemcacheMetaRequest {
    /// A meta get of the value that also asks for the client flags (`f`), so that a marked
    /// value is recognised.
    var askingForFlags: MemcacheMetaRequest {
        guard self.command == .get, self.flags.contains(where: { $0.letter == UInt8(ascii: "v") }),
            !self.flags.contains(where: { $0.letter == UInt8(ascii: "f") })
        else { return self }
        var request = self
        request.flags.append(.returnFlags)
        return request
    }

    /// A meta set storing `value` with its client flags (`F`, 0 when absent) plus `bit`.
    func storing(_ value: ByteBuffer, marked bit: UInt32) -> MemcacheMetaRequest {
        let given = self.flags.first { $0.letter == UInt8(ascii: "F") }.flatMap {
            UInt32(String(decoding: $0.token, as: UTF8.self))
        }
        var request = self
        request.flags.removeAll { $0.letter == UInt8(ascii: "F") }
        request.flags.append(.clientFlags((given ?? 0) | bit))
        request.value = value
        return request
    }
}

extension MemcacheMetaResponse {
    /// The client flags the reply carries (`f`), nil when it carries none.
    var clientFlags: UInt32? { self.token("f").flatMap { UInt32($0) } }

    /// The reply with `value` and its `f` flag without `bit`.
    func unmarked(_ bit: UInt32, value: ByteBuffer) -> MemcacheMetaResponse {
        let flags = self.flags.map { flag in
            guard flag.letter == UInt8(ascii: "f"), let given = UInt32(String(decoding: flag.token, as: UTF8.self))
            else { return flag }
            // Cannot fail: digits are a valid token.
            return (try? MemcacheMetaFlag(letter: "f", token: "\(given & ~bit)")) ?? flag
        }
        return MemcacheMetaResponse(status: self.status, flags: flags, value: value)
    }
}

extension MemcacheRequestSender {
    /// `getMany` through `send`, so that the values come with their client flags (a base's
    /// own `getMany` may drop them): text multi-gets of at most 1,000 keys, one after another.
    func getManyWithFlags(_ keys: [MemcacheKey]) async throws -> [MemcacheKey: ByteBuffer] {
        var found: [MemcacheKey: ByteBuffer] = [:]
        var start = 0
        while start < keys.count {
            let end = min(start + 1000, keys.count)
            found.merge(try await self.getManyInOneRequest(Array(keys[start..<end]))) { _, last in last }
            start = end
        }
        return found
    }
}
