import Testing

@testable import Channels

@Suite("ImmortalObject")
struct ImmortalObjectTests {
    final class Box: Sendable {}

    /// Kept by a static, as the objects made immortal in the library are (so the leak checker
    /// sees it reachable).
    static let immortalBox = ImmortalObject.make(Box())
    static let immortalArray = ImmortalObject.make([Box(), Box()])

    /// The reference-count word of a Swift object: the second word of its header.
    static func countWord(_ object: AnyObject) -> UInt64 {
        // SAFETY: `object` holds the object for the call; every Swift object starts with a
        // metadata pointer and its count word.
        UnsafeRawPointer(Unmanaged.passUnretained(object).toOpaque()).load(fromByteOffset: 8, as: UInt64.self)
    }

    @Test("a retain writes a mortal object's count and leaves an immortal one's as it is")
    func retainsDoNotWriteTheCount() {
        let mortal = Box()
        let mortalBefore = Self.countWord(mortal)
        let extra = Unmanaged.passRetained(mortal)
        #expect(Self.countWord(mortal) != mortalBefore)
        extra.release()

        let immortal = Self.immortalBox
        let before = Self.countWord(immortal)
        let retained = Unmanaged.passRetained(immortal)
        #expect(Self.countWord(immortal) == before)
        retained.release()
        retained.release() // a release too many is harmless to an immortal object
        #expect(Self.countWord(immortal) == before)
    }

    @Test("an array made immortal keeps its elements, and its storage's count is not written")
    func arrays() {
        let array = Self.immortalArray
        #expect(array.count == 2)
        let storage = unsafeBitCast(array, to: AnyObject.self)
        let before = Self.countWord(storage)
        let copies = (0..<8).map { _ in array }
        #expect(copies.count == 8)
        #expect(Self.countWord(storage) == before)
        #expect(ImmortalObject.make([Box]()).isEmpty)
    }

    @Test("the storage every empty ByteBuffer shares is immortal")
    func emptyBufferStorage() {
        let empty = ByteBuffer()
        let before = Self.countWord(empty.storage)
        let copies = (0..<8).map { _ in ByteBuffer() }
        #expect(copies.allSatisfy { $0.storage === empty.storage })
        #expect(Self.countWord(empty.storage) == before)
    }
}
