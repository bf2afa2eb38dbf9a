import Channels
import ChannelsTestUtils
import Codecs
import Testing

/// A decoder with a planted bug: it takes a frame only when the whole of it arrived in one
/// read (it looks at the buffer's first readable bytes only if they hold the terminator).
struct ForgetfulLineDecoder: ByteToMessageDecoder {
    mutating func decode(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            // Bug: drops the partial line instead of waiting for the rest.
            if buffer.readableBytes > 0, buffer.readableBytes < 3 {
                buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
            }
            return nil
        }
        let length = newline - buffer.readerIndex
        let line = buffer.readSlice(length: length)
        buffer.moveReaderIndex(forwardBy: 1)
        return line
    }
}

@Suite("ByteToMessageDecoderVerifier")
struct DecoderVerifierTests {
    @Test("a correct decoder passes, each pair alone and all together")
    func correctDecoder() throws {
        let pairs = [("a\nbc\n", ["a", "bc"]), ("\n", [""]), ("longer line\n", ["longer line"])]
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: pairs.map { (ByteBuffer(string: $0.0), $0.1.map { ByteBuffer(string: $0) }) },
            decoderFactory: { LineFrameDecoder(maximumLength: 64) })
    }

    @Test("a decoder that loses a cut frame fails, naming how the input was cut")
    func brokenDecoder() throws {
        let error = #expect(throws: ByteToMessageDecoderVerifier.VerificationError.self) {
            try ByteToMessageDecoderVerifier.verifyDecoder(
                inputOutputPairs: [
                    (ByteBuffer(string: "hello\nworld\n"), [ByteBuffer(string: "hello"), ByteBuffer(string: "world")])
                ],
                decoderFactory: { ForgetfulLineDecoder() })
        }
        #expect(error?.way.contains("one byte at a time") == true || error?.way.contains("cut at") == true)
    }

    @Test("bytes left at the end of input are a failure")
    func leftovers() throws {
        #expect(throws: ByteToMessageDecoderVerifier.VerificationError.self) {
            try ByteToMessageDecoderVerifier.verifyDecoder(
                inputOutputPairs: [(ByteBuffer(string: "a\nunterminated"), [ByteBuffer(string: "a")])],
                decoderFactory: { LineFrameDecoder(maximumLength: 64) })
        }
    }
}
