import Channels
import Testing

@testable import mcpool

@Suite("mcpool soak's wrong-value checker")
struct SoakCheckerTests {
    @Test(
        "a value written for its key passes; another key's, a version never taken, a foreign or spliced value does not")
    func verdicts() {
        let checker = SoakChecker()
        let first = checker.nextVersion(of: 7)
        let second = checker.nextVersion(of: 7)
        #expect(first == 1 && second == 2)
        #expect(checker.check(SoakChecker.value(key: 7, version: 2, size: 300), key: 7) == .right)
        #expect(checker.check(SoakChecker.value(key: 7, version: 1, size: 12), key: 7) == .right)
        // Another caller's reply: the value of key 8 read under key 7.
        _ = checker.nextVersion(of: 8)
        #expect(checker.check(SoakChecker.value(key: 8, version: 1, size: 300), key: 7) != .right)
        // A version never taken for the key.
        #expect(checker.check(SoakChecker.value(key: 7, version: 3, size: 300), key: 7) != .right)
        // Not a soak value at all, and a value cut from one version and padded with another's bytes.
        #expect(checker.check(ByteBuffer(string: "END"), key: 7) != .right)
        var spliced = SoakChecker.value(key: 7, version: 1, size: 100)
        spliced.moveWriterIndex(to: spliced.writerIndex - 50)
        spliced.writeImmutableBuffer(
            SoakChecker.value(key: 7, version: 2, size: 100).getSlice(at: 50, length: 50) ?? ByteBuffer())
        #expect(checker.check(spliced, key: 7) != .right)
    }

    @Test("the verdict: wrong values, hung calls or growth fail the soak")
    func verdict() {
        var row = SoakRun.Row()
        row.calls = 1000
        row.residentMB = 40
        row.descriptors = 30
        #expect(SoakRun.verdict([row, row, row]).passed)
        var grown = row
        grown.residentMB = 200
        #expect(!SoakRun.verdict([row, row, grown]).passed)
        var leaking = row
        leaking.descriptors = 100
        #expect(!SoakRun.verdict([row, row, leaking]).passed)
        var wrong = row
        wrong.wrong = 1
        #expect(!SoakRun.verdict([row, wrong, row]).passed)
        var hung = row
        hung.hung = 1
        #expect(!SoakRun.verdict([row, hung, row]).passed)
    }
}
