public import Channels
public import Codecs

/// Checks a `ByteToMessageDecoder` the way the network will feed it: the same bytes whole,
/// one byte at a time, cut in two at every point, and cut at random places, must always give
/// the same messages and leave nothing behind.
///
/// Not thread-safe: call it from one test. It drives the decoder through a
/// `ByteToMessageHandler` in an `EmbeddedChannel`, as a pipeline would, and ends each run
/// with the end of input (so `decodeLast` runs and left-over bytes are an error).
///
/// ```swift
/// @Test func lineDecoder() throws {
///     try ByteToMessageDecoderVerifier.verifyDecoder(
///         inputOutputPairs: [("a\nbc\n", ["a", "bc"]), ("\n", [""])].map { (ByteBuffer(string: $0.0), $0.1.map { ByteBuffer(string: $0) }) },
///         decoderFactory: { LineFrameDecoder(maximumLength: 1024) })
/// }
/// ```
public enum ByteToMessageDecoderVerifier {
    /// Why a decoder failed verification: which way of feeding it, what went in, what was
    /// expected and what came out.
    public struct VerificationError: Error, CustomStringConvertible {
        /// How the input was fed ("all at once", "one byte at a time", "cut at 3, 17", ...).
        public let way: String
        /// The input (all pairs' inputs, in order).
        public let input: [UInt8]
        public let reason: String

        public var description: String {
            "decoder verification failed feeding \(self.input.count) bytes \(self.way): \(self.reason)"
        }
    }

    /// Verifies that each input, and all inputs one after another, decode to their messages
    /// whichever way the bytes arrive.
    ///
    /// - Parameters:
    ///   - inputOutputPairs: inputs and the messages each must decode to.
    ///   - randomCuts: how many ways of cutting each input at random points to try.
    ///   - everySplitUpTo: inputs up to this many bytes are also cut in two at every point.
    ///   - seed: the random cuts' seed (fixed by default, so a failure repeats).
    ///   - decoderFactory: makes a fresh decoder for each run.
    /// - Throws: `VerificationError` for the first way that gives other messages, leaves
    ///   bytes behind, or throws; the decoder's own error is in its `reason`.
    public static func verifyDecoder<Decoder: ByteToMessageDecoder>(
        inputOutputPairs: [(ByteBuffer, [Decoder.Message])],
        randomCuts: Int = 32,
        everySplitUpTo: Int = 4096,
        seed: UInt64 = 0x5EED,
        decoderFactory: () -> Decoder
    ) throws where Decoder.Message: Equatable {
        var all: [UInt8] = []
        var allExpected: [Decoder.Message] = []
        var generator = SplitMix64(seed: seed)
        for (input, expected) in inputOutputPairs {
            let bytes = Array(input.readableBytesView)
            all += bytes
            allExpected += expected
            try self.verify(
                bytes, expected, randomCuts: randomCuts, everySplitUpTo: everySplitUpTo, generator: &generator,
                decoderFactory)
        }
        if inputOutputPairs.count > 1 {
            try self.verify(
                all, allExpected, randomCuts: randomCuts, everySplitUpTo: 0, generator: &generator, decoderFactory)
        }
    }

    private static func verify<Decoder: ByteToMessageDecoder>(
        _ input: [UInt8],
        _ expected: [Decoder.Message],
        randomCuts: Int,
        everySplitUpTo: Int,
        generator: inout SplitMix64,
        _ decoderFactory: () -> Decoder
    ) throws where Decoder.Message: Equatable {
        var ways: [(String, [Int])] = [("all at once", []), ("one byte at a time", Array(1..<max(1, input.count)))]
        if input.count <= everySplitUpTo {
            for cut in 1..<max(1, input.count) { ways.append(("cut at \(cut)", [cut])) }
        }
        if input.count > 1 {
            for _ in 0..<randomCuts {
                let count = Int(generator.next() % UInt64(min(8, input.count - 1))) + 1
                let cuts = Set((0..<count).map { _ in Int(generator.next() % UInt64(input.count - 1)) + 1 }).sorted()
                ways.append(("cut at \(cuts.map(String.init).joined(separator: ", "))", cuts))
            }
        }
        for (way, cuts) in ways {
            let failure = VerificationError.self
            var output: [Decoder.Message] = []
            let channel = try EmbeddedChannel(handlers: [ByteToMessageHandler(decoderFactory())])
            do {
                let bounds = [0] + cuts + [input.count]
                for (start, end) in zip(bounds, bounds.dropFirst()) where end > start {
                    try channel.writeInbound(ByteBuffer(bytes: input[start..<end]))
                    while let message = try channel.readInbound(as: Decoder.Message.self) { output.append(message) }
                }
                let leftOvers = try channel.finish()
                for message in leftOvers.inbound {
                    guard let message = message as? Decoder.Message else {
                        throw failure.init(way: way, input: input, reason: "the pipeline produced \(type(of: message))")
                    }
                    output.append(message)
                }
            } catch let error as VerificationError {
                throw error
            } catch {
                _ = try? channel.finish()
                throw failure.init(
                    way: way, input: input, reason: "the decoder threw \(error) after \(output.count) messages")
            }
            guard output == expected else {
                throw failure.init(way: way, input: input, reason: "got \(output), expected \(expected)")
            }
        }
    }
}

/// A small seeded generator (SplitMix64), so random cuts repeat from run to run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var value = self.state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
