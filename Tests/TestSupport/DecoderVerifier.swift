import Channels
public import Codecs

/// Feeds `input` to a fresh decoder in every way it could arrive — all at once, one byte at
/// a time, and split in two at every position — through an `EmbeddedChannel`, and returns
/// a description of the first way whose output differs from `expected` (nil: all agree).
public func verifyDecoder<Decoder: ByteToMessageDecoder>(
    _ makeDecoder: () -> Decoder,
    input: [UInt8],
    expected: [Decoder.Message],
    everySplit: Bool = true
) throws -> String? where Decoder.Message: Equatable {
    var ways: [(String, [[UInt8]])] = [("all at once", [input]), ("one byte at a time", input.map { [$0] })]
    if everySplit {
        for split in 1..<max(input.count, 1) {
            ways.append(("split at \(split)", [Array(input[..<split]), Array(input[split...])]))
        }
    }
    for (name, chunks) in ways {
        let channel = try EmbeddedChannel(handlers: [ByteToMessageHandler(makeDecoder())])
        var output: [Decoder.Message] = []
        for chunk in chunks {
            try channel.writeInbound(ByteBuffer(bytes: chunk))
            while let message = try channel.readInbound(as: Decoder.Message.self) { output.append(message) }
        }
        let leftOvers = try channel.finish()
        if output != expected { return "\(name): got \(output), expected \(expected)" }
        if !leftOvers.isClean { return "\(name): left \(leftOvers.inbound)" }
    }
    return nil
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
