import Channels
import Testing

@Suite("ByteBuffer")
struct ByteBufferTests {
    @Test("integers round-trip in both byte orders, and short reads consume nothing")
    func integers() {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(1))
        buffer.writeInteger(UInt16(0x0203))
        buffer.writeInteger(UInt32(0x0405_0607), endianness: .little)
        buffer.writeInteger(Int64(-2))
        #expect(buffer.readableBytes == 15)
        #expect(buffer.getBytes(at: 1, length: 2) == [2, 3])
        #expect(buffer.getBytes(at: 3, length: 4) == [7, 6, 5, 4])
        #expect(buffer.readInteger(as: UInt8.self) == 1)
        #expect(buffer.readInteger(as: UInt16.self) == 0x0203)
        #expect(buffer.readInteger(endianness: .little, as: UInt32.self) == 0x0405_0607)
        #expect(buffer.readInteger(as: Int64.self) == -2)
        #expect(buffer.readInteger(as: UInt8.self) == nil)
        buffer.writeBytes([1, 2, 3])
        #expect(buffer.readInteger(as: UInt32.self) == nil)
        #expect(buffer.readableBytes == 3)
    }

    @Test("strings and bytes in and out, including every byte value")
    func stringsAndBytes() {
        var buffer = ByteBuffer(string: "héllo ")
        buffer.writeBytes(0...255 as ClosedRange<UInt8>)
        #expect(buffer.readString(length: 7) == "héllo ")
        #expect(buffer.readBytes(length: 256) == Array(0...255))
        #expect(buffer.readBytes(length: 1) == nil)
    }

    @Test("writeString appends UTF-8 and returns its byte count: empty, small, long, non-ASCII, sliced")
    func writeStrings() {
        var buffer = ByteBuffer()
        let long = String(repeating: "long text é ", count: 100) // a string with its own storage
        let sliced = String(long.dropFirst(5).prefix(20))
        let counts = ["", "GET", "héllo", long, sliced, "✓"].map { buffer.writeString($0) }
        #expect(counts == [0, 3, 6, long.utf8.count, sliced.utf8.count, 3])
        #expect(buffer.readString() == "GET" + "héllo" + long + sliced + "✓")
    }

    @Test("String(buffer:) and [UInt8](buffer:) read the readable bytes only and consume nothing")
    func conveniences() {
        var buffer = ByteBuffer(string: "skip:héllo")
        buffer.moveReaderIndex(forwardBy: 5)
        #expect(String(buffer: buffer) == "héllo")
        #expect([UInt8](buffer: buffer) == Array("héllo".utf8))
        #expect(buffer.readableBytes == 6)
        #expect(String(buffer: ByteBuffer()) == "")
        #expect([UInt8](buffer: ByteBuffer()) == [])
        #expect(String(buffer: ByteBuffer(bytes: [0x61, 0xff, 0x62])) == "a\u{FFFD}b")
    }

    @Test("copies are copy-on-write: writing to one leaves the other as it was")
    func copyOnWrite() {
        var original = ByteBuffer(string: "abc")
        var copy = original
        copy.writeString("def")
        original.setBytes(Array("X".utf8), at: 0)
        #expect(original == ByteBuffer(string: "Xbc"))
        #expect(copy == ByteBuffer(string: "abcdef"))
    }

    @Test("slices share bytes without copying and stay intact when the parent changes")
    func slices() {
        var buffer = ByteBuffer(string: "hello world")
        var hello = buffer.readSlice(length: 5)
        #expect(hello == ByteBuffer(string: "hello"))
        #expect(buffer.readableBytes == 6)
        buffer.setBytes(Array("J".utf8), at: 0)
        #expect(hello == ByteBuffer(string: "hello"))
        hello?.writeString("!")
        #expect(hello == ByteBuffer(string: "hello!"))
        #expect(buffer.getSlice(at: 100, length: 1) == nil)
        #expect(buffer.getSlice(at: buffer.readerIndex, length: 7) == nil)
    }

    @Test("growth keeps the readable bytes; discardReadBytes reclaims space")
    func growthAndDiscard() {
        var buffer = ByteBuffer(capacity: 4)
        for index in 0..<1000 { buffer.writeInteger(UInt16(index)) }
        for index in 0..<500 { #expect(buffer.readInteger(as: UInt16.self) == UInt16(index)) }
        let capacity = buffer.capacity
        buffer.discardReadBytes()
        #expect(buffer.readerIndex == 0)
        #expect(buffer.readableBytes == 1000)
        #expect(buffer.capacity == capacity)
        #expect(buffer.readInteger(as: UInt16.self) == 500)
    }

    @Test("the bytes view scans in buffer positions")
    func view() {
        var buffer = ByteBuffer(string: "xxab\ncd")
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) == 4)
        #expect(Array(buffer.readableBytesView) == Array("ab\ncd".utf8))
        #expect(buffer.readableBytesView.count == 5)
    }

    @Test("clear reuses storage when nothing else holds it")
    func clearReuse() {
        var buffer = ByteBuffer(capacity: 64)
        buffer.writeString("data")
        let shared = buffer
        buffer.clear()
        #expect(buffer.readableBytes == 0)
        #expect(shared == ByteBuffer(string: "data"))
    }
}

@Suite("ByteBuffer search")
struct ByteBufferSearchTests {
    @Test("a byte or a sequence is found from any index, in buffer indices, never outside the readable bytes")
    func search() {
        var buffer = ByteBuffer(string: "xxab\r\ncd\r\nef")
        buffer.moveReaderIndex(forwardBy: 2) // "ab\r\ncd\r\nef", reader index 2
        #expect(buffer.firstIndex(of: UInt8(ascii: "\n"), from: 0) == 5)
        #expect(buffer.firstIndex(of: UInt8(ascii: "\n"), from: 6) == 9)
        #expect(buffer.firstIndex(of: UInt8(ascii: "\n"), from: 10) == nil)
        #expect(buffer.firstIndex(of: UInt8(ascii: "x"), from: 0) == nil) // before the reader index
        #expect(buffer.firstIndex(of: [UInt8]("\r\n".utf8), from: 2) == 4)
        #expect(buffer.firstIndex(of: [UInt8]("\r\n".utf8), from: 5) == 8)
        #expect(buffer.firstIndex(of: [UInt8]("\r\ne".utf8), from: 0) == 8)
        #expect(buffer.firstIndex(of: [UInt8]("efg".utf8), from: 0) == nil) // would end past the writer index
        #expect(buffer.readableBytesView.firstIndex(of: UInt8(ascii: "c")) == 6)
        #expect(ByteBuffer().firstIndex(of: 0, from: 0) == nil)
    }
}
