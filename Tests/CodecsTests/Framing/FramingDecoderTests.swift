import Channels
import Codecs
import TestSupport
import Testing

private func buffers(_ strings: String...) -> [ByteBuffer] { strings.map { ByteBuffer(string: $0) } }

@Suite("Framing decoders")
struct FramingDecoderTests {
    @Test("lines split on LF and CRLF, at every byte boundary")
    func lines() throws {
        let failure = try verifyDecoder(
            { LineFrameDecoder(maximumLength: 16) },
            input: Array("one\r\ntwo\n\r\nthree\n".utf8), expected: buffers("one", "two", "", "three"))
        #expect(failure == nil, "\(failure ?? "")")
    }

    @Test("an oversized line is an error that closes the channel, even before its end arrives")
    func oversizedLine() throws {
        for (error, closed) in try decodingError(
            { LineFrameDecoder(maximumLength: 8) }, input: Array("0123456789abcdef".utf8))
        {
            #expect((error as? FramingError)?.code == .frameTooLarge)
            #expect(closed)
        }
        // Exactly at the limit is fine.
        #expect(
            try verifyDecoder(
                { LineFrameDecoder(maximumLength: 8) }, input: Array("01234567\r\n".utf8), expected: buffers("01234567")
            ) == nil)
    }

    @Test("an unterminated last line is reported at end of input")
    func leftoverAtEOF() throws {
        let channel = try EmbeddedChannel(handlers: [ByteToMessageHandler(LineFrameDecoder())])
        try channel.writeInbound(ByteBuffer(string: "done\npartial"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "done"))
        #expect { _ = try channel.finish() } throws: { ($0 as? FramingError)?.code == .leftoverBytesAtEOF }
    }

    @Test(
        "length fields of every width and byte order, at every byte boundary",
        arguments: [
            LengthFieldWidth.one, .two, .four, .eight,
        ])
    func lengthFields(width: LengthFieldWidth) throws {
        for endianness in [Endianness.big, .little] {
            var input = ByteBuffer()
            for payload in ["", "a", "hello world"] {
                try LengthFieldPrepender(width: width, endianness: endianness).encode(
                    ByteBuffer(string: payload), into: &input)
            }
            let failure = try verifyDecoder(
                { LengthFieldFrameDecoder(width: width, endianness: endianness) },
                input: Array(input.readableBytesView), expected: buffers("", "a", "hello world"))
            #expect(failure == nil, "\(failure ?? "")")
        }
    }

    @Test("length field with an offset and an adjustment (length counts the whole frame)")
    func lengthOffsetAndAdjustment() throws {
        // [type:1][length:2 = whole frame incl. header][payload]
        var input = ByteBuffer()
        input.writeInteger(UInt8(7))
        input.writeInteger(UInt16(3 + 5))
        input.writeString("hello")
        let keepHeader = try verifyDecoder(
            {
                LengthFieldFrameDecoder(width: .two, lengthFieldOffset: 1, lengthAdjustment: -3, stripHeader: false)
            }, input: Array(input.readableBytesView), expected: [input])
        #expect(keepHeader == nil, "\(keepHeader ?? "")")
        let stripped = try verifyDecoder(
            {
                LengthFieldFrameDecoder(width: .two, lengthFieldOffset: 1, lengthAdjustment: -3)
            }, input: Array(input.readableBytesView), expected: buffers("hello"))
        #expect(stripped == nil, "\(stripped ?? "")")
    }

    @Test("an announced length over the maximum fails before the body is buffered; a negative one is invalid")
    func badLengths() throws {
        var huge = ByteBuffer()
        huge.writeInteger(UInt64.max)
        for (error, closed) in try decodingError(
            { LengthFieldFrameDecoder(width: .eight, maximumFrameLength: 1024) }, input: Array(huge.readableBytesView))
        {
            #expect((error as? FramingError)?.code == .frameTooLarge)
            #expect(closed)
        }
        var short = ByteBuffer()
        short.writeInteger(UInt16(1))
        for (error, _) in try decodingError(
            { LengthFieldFrameDecoder(width: .two, lengthAdjustment: -10) }, input: Array(short.readableBytesView))
        {
            #expect((error as? FramingError)?.code == .invalidLength)
        }
        #expect(throws: FramingError.self) {
            var out = ByteBuffer()
            try LengthFieldPrepender(width: .one).encode(
                ByteBuffer(bytes: [UInt8](repeating: 0, count: 256)), into: &out)
        }
    }

    @Test("fixed-length frames, at every byte boundary, and leftovers at end of input")
    func fixedLength() throws {
        let failure = try verifyDecoder(
            { FixedLengthFrameDecoder(frameLength: 3) }, input: Array("abcdefghi".utf8),
            expected: buffers("abc", "def", "ghi"))
        #expect(failure == nil, "\(failure ?? "")")
        let channel = try EmbeddedChannel(handlers: [ByteToMessageHandler(FixedLengthFrameDecoder(frameLength: 3))])
        try channel.writeInbound(ByteBuffer(string: "abcd"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "abc"))
        #expect(throws: FramingError.self) { _ = try channel.finish() }
    }

    @Test("the handler's buffer limit stops a peer that never completes a frame")
    func bufferLimit() throws {
        let channel = try EmbeddedChannel(handlers: [
            ByteToMessageHandler(FixedLengthFrameDecoder(frameLength: 1 << 20), maximumBufferedBytes: 1000)
        ])
        #expect { try channel.writeInbound(ByteBuffer(bytes: [UInt8](repeating: 1, count: 1001))) } throws: {
            ($0 as? FramingError)?.code == .bufferLimitExceeded
        }
        #expect(!channel.isActive)
        _ = try channel.finish()
    }

    @Test("removing a decoder hands its undecoded bytes to the next handler")
    func removalHandsOverBytes() throws {
        let channel = try EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            ByteToMessageHandler(FixedLengthFrameDecoder(frameLength: 4)), name: "frames")
        try channel.writeInbound(ByteBuffer(string: "abcdef"))
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "abcd"))
        try channel.pipeline.syncOperations.removeHandler(name: "frames")
        #expect(try channel.readInbound(as: ByteBuffer.self) == ByteBuffer(string: "ef"))
        #expect(try channel.finish().isClean)
    }
}
