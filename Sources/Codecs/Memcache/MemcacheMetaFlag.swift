import Channels

/// One flag of a meta command (`mg`, `ms`, `md`, `ma`): a letter, optionally followed by a
/// token, as in `T30` (TTL 30 s) or `v` (return the value).
///
/// Thread-safe (a value). Tokens are validated like keys: no space, no control byte, so a
/// flag cannot inject a command either.
///
/// ```swift
/// let flags: [MemcacheMetaFlag] = [.returnValue, .returnFlags, .ttl(300)]
/// ```
public struct MemcacheMetaFlag: Sendable, Hashable, CustomStringConvertible {
    public let letter: UInt8
    public let token: [UInt8]

    /// A flag from its letter and token. - Throws: `MemcacheError.invalidArgument`.
    public init(letter: Character, token: String = "") throws {
        guard let ascii = letter.asciiValue, (0x41...0x5a).contains(ascii) || (0x61...0x7a).contains(ascii) else {
            throw MemcacheError(.invalidArgument, "a meta flag is one ASCII letter, not '\(letter)'")
        }
        let bytes = Array(token.utf8)
        if MemcacheSyntax.firstForbiddenByte(in: bytes) != nil || bytes.count > MemcacheSyntax.maximumKeyLength {
            throw MemcacheError(
                .invalidArgument, "meta flag token '\(token)' holds a space or control byte or is too long")
        }
        self.letter = ascii
        self.token = bytes
    }

    init(uncheckedLetter letter: UInt8, token: [UInt8]) {
        self.letter = letter
        self.token = token
    }

    init(_ letter: Character, _ token: some BinaryInteger) {
        self.letter = letter.asciiValue ?? UInt8(ascii: "?")
        self.token = Array(String(token).utf8)
    }

    init(_ letter: Character) {
        self.letter = letter.asciiValue ?? UInt8(ascii: "?")
        self.token = []
    }

    /// `v`: return the value.
    public static let returnValue = MemcacheMetaFlag("v")
    /// `f`: return the client flags.
    public static let returnFlags = MemcacheMetaFlag("f")
    /// `c`: return the CAS value.
    public static let returnCAS = MemcacheMetaFlag("c")
    /// `k`: return the key.
    public static let returnKey = MemcacheMetaFlag("k")
    /// `t`: return the remaining TTL in seconds (-1: none).
    public static let returnTTL = MemcacheMetaFlag("t")
    /// `s`: return the value's size.
    public static let returnSize = MemcacheMetaFlag("s")
    /// `h`: return whether the item was hit before.
    public static let returnHit = MemcacheMetaFlag("h")
    /// `l`: return seconds since the last access.
    public static let returnLastAccess = MemcacheMetaFlag("l")
    /// `u`: do not bump the item in the LRU.
    public static let noLRUBump = MemcacheMetaFlag("u")
    /// `q`: quiet mode: suppress the uninteresting replies (a miss for `mg`, success for the
    /// others); close a run of quiet commands with `mn`.
    public static let quiet = MemcacheMetaFlag("q")
    /// `I`: invalidate (mark stale) instead of deleting / when setting with a lower CAS.
    public static let invalidate = MemcacheMetaFlag("I")

    /// `v`: what a get of a value asks for, made once (immortal: every get on every thread
    /// retains it, and its count must not bounce between cores).
    package static let valueFlags: [MemcacheMetaFlag] = ImmortalObject.make([.returnValue])
    /// `v f c`: what a get of an item asks for (value, client flags, CAS), made once.
    package static let itemFlags: [MemcacheMetaFlag] = ImmortalObject.make([.returnValue, .returnFlags, .returnCAS])

    /// `O<token>`: an opaque token echoed in the reply.
    public static func opaque(_ token: String) throws -> MemcacheMetaFlag {
        try MemcacheMetaFlag(letter: "O", token: token)
    }
    /// `T<seconds>`: set the TTL (kept within memcached's 32 bits: `memcacheExpiry`).
    public static func ttl(_ seconds: Int) -> MemcacheMetaFlag { MemcacheMetaFlag("T", memcacheExpiry(seconds)) }
    /// `N<seconds>`: on a miss, create a placeholder with this TTL (vivify) and win the recache.
    public static func vivify(ttl seconds: Int) -> MemcacheMetaFlag { MemcacheMetaFlag("N", memcacheExpiry(seconds)) }
    /// `R<seconds>`: win the recache when the remaining TTL is below this.
    public static func recache(below seconds: Int) -> MemcacheMetaFlag { MemcacheMetaFlag("R", seconds) }
    /// `C<cas>`: compare-and-swap against this CAS value.
    public static func compareCAS(_ cas: UInt64) -> MemcacheMetaFlag { MemcacheMetaFlag("C", cas) }
    /// `F<flags>`: the client flags to store.
    public static func clientFlags(_ flags: UInt32) -> MemcacheMetaFlag { MemcacheMetaFlag("F", flags) }
    /// `D<delta>`: the arithmetic delta.
    public static func delta(_ delta: UInt64) -> MemcacheMetaFlag { MemcacheMetaFlag("D", delta) }
    /// `J<value>`: the initial value when `ma` vivifies.
    public static func initialValue(_ value: UInt64) -> MemcacheMetaFlag { MemcacheMetaFlag("J", value) }
    /// `M<mode>`: the mode of `ms` (`E` add, `A` append, `P` prepend, `R` replace, `S` set) or
    /// `ma` (`I` increment, `D` decrement).
    public static func mode(_ mode: Character) -> MemcacheMetaFlag { MemcacheMetaFlag("M", String(mode)) }

    private init(_ letter: Character, _ token: String) {
        self.letter = letter.asciiValue ?? UInt8(ascii: "?")
        self.token = Array(token.utf8)
    }

    public var description: String { String(decoding: [self.letter] + self.token, as: UTF8.self) }
}
