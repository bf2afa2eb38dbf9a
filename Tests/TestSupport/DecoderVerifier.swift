import Channels
import ChannelsTestUtils
public import Codecs

/// Feeds `input` to a fresh decoder in every way it could arrive (the library's
/// `ByteToMessageDecoderVerifier`: whole, byte by byte, cut in two at every point when
/// `everySplit`, cut at random points) and returns the description of the first way whose
/// output differs from `expected` or leaves bytes (nil: all agree).
public func verifyDecoder<Decoder: ByteToMessageDecoder>(
    _ makeDecoder: () -> Decoder,
    input: [UInt8],
    expected: [Decoder.Message],
    everySplit: Bool = true
) throws -> String? where Decoder.Message: Equatable {
    do {
        try ByteToMessageDecoderVerifier.verifyDecoder(
            inputOutputPairs: [(ByteBuffer(bytes: input), expected)], everySplitUpTo: everySplit ? .max : 0,
            decoderFactory: makeDecoder)
        return nil
    } catch let failure as ByteToMessageDecoderVerifier.VerificationError {
        return failure.description
    }
}

/// Feeds `input` (all at once and one byte at a time) and returns the error the channel
/// reported, with whether the channel was closed by it.
public func decodingError<Decoder: ByteToMessageDecoder>(
    _ makeDecoder: () -> Decoder,
    input: [UInt8]
) throws -> [(error: (any Error)?, closed: Bool)] {
    var results: [(error: (any Error)?, closed: Bool)] = []
    for chunks in [[input], input.map { [$0] }] {
        let channel = try EmbeddedChannel(handlers: [ByteToMessageHandler(makeDecoder())])
        var caught: (any Error)?
        for chunk in chunks where caught == nil {
            do { try channel.writeInbound(ByteBuffer(bytes: chunk)) } catch { caught = error }
        }
        results.append((caught, !channel.isActive))
        _ = try? channel.finish()
    }
    return results
}
