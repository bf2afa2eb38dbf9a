// The framing decoders fed arbitrary bytes cut at arbitrary points; the stream's first byte
// picks the decoder (lines, length fields of each width and byte order, fixed lengths).
import Channels
import Codecs
import FuzzSupport

runLibFuzzer { start, count in
    guard let start, count > 1 else { return 0 }
    let pick = start[0]
    let rest = start + 1
    switch pick % 4 {
    case 0:
        return checkCutsDoNotMatter(rest, count - 1) { LineFrameDecoder(maximumLength: 512) }
    case 1:
        let widths: [LengthFieldWidth] = [.one, .two, .four, .eight]
        let width = widths[Int(pick / 4) % widths.count]
        let endianness: Endianness = (pick / 16) % 2 == 0 ? .big : .little
        // Offsets, adjustments (negative too) and header stripping from the same byte.
        let offset = Int(pick / 32) % 3
        let adjustment = Int(pick / 64) - 2
        return checkCutsDoNotMatter(rest, count - 1) {
            LengthFieldFrameDecoder(
                width: width, endianness: endianness, lengthFieldOffset: offset, lengthAdjustment: adjustment,
                stripHeader: pick % 8 < 4, maximumFrameLength: 4096)
        }
    case 2:
        return checkCutsDoNotMatter(rest, count - 1) { FixedLengthFrameDecoder(frameLength: Int(pick / 4) % 32 + 1) }
    default:
        return checkCutsDoNotMatter(rest, count - 1) { LineFrameDecoder(maximumLength: 8) }
    }
}
