import Channels
import Codecs
import Testing

@testable import MemcacheClient

@Suite("A quiet batch split between servers")
struct BatchSplitTests {
    let a: MemcacheKey = "a"
    let b: MemcacheKey = "b"
    let c: MemcacheKey = "c"
    let fence = MemcacheMetaRequest(command: .noop, key: nil)

    func get(_ key: MemcacheKey) -> MemcacheMetaRequest { .get(key, flags: [.returnValue]) }

    @Test("a server's part keeps the batch's order, and a fence goes with the command before it")
    func partKeepsOrderAndFences() {
        let setA = MemcacheMetaRequest.set(self.a, value: ByteBuffer(string: "1"))
        let batch = [setA, self.fence, self.get(self.b), self.fence, self.get(self.a), self.get(self.c), self.fence]
        #expect(batch.part(for: [self.a]) == [setA, self.fence, self.get(self.a)])
        #expect(batch.part(for: [self.b, self.c]) == [self.get(self.b), self.fence, self.get(self.c), self.fence])
        #expect(batch.part(for: []).isEmpty)
    }

    @Test("fences before the batch's first key go nowhere")
    func leadingFence() {
        #expect([self.fence, self.get(self.a)].part(for: [self.a]) == [self.get(self.a)])
    }
}
