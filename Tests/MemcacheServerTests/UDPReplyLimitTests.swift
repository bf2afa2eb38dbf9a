import Channels
import Codecs
import Testing

@testable import MemcacheServer

@Suite("The embedded server's UDP replies at the frame format's limit")
struct UDPReplyLimitTests {
    /// Sends `request` as one datagram with request ID 7 and returns the reply's payload,
    /// its datagrams put together, after checking that they number 0..<total in order.
    static func exchange(_ request: String, on channel: EmbeddedChannel) throws -> String {
        var datagram = ByteBuffer()
        MemcacheUDPFrameHeader(requestID: 7).write(into: &datagram)
        datagram.writeString(request)
        let sender = try SocketAddress(ipAddress: "127.0.0.1", port: 5000)
        try channel.writeInbound(AddressedEnvelope(remoteAddress: sender, data: datagram))
        var payload = ByteBuffer()
        var expected = 0
        while let reply = try channel.readOutbound(as: AddressedEnvelope<ByteBuffer>.self) {
            var data = reply.data
            let header = try MemcacheUDPFrameHeader.read(from: &data)
            #expect(header.requestID == 7 && Int(header.sequence) == expected && header.sequence < header.total)
            #expect(reply.remoteAddress == sender)
            expected += 1
            payload.writeImmutableBuffer(data)
        }
        return payload.readString()
    }

    @Test("a reply that needs more than 65,535 datagrams becomes one SERVER_ERROR line; one that fits is sent whole")
    func replyTooLong() throws {
        let store = ItemStore(memoryLimit: 4 << 20, maximumValueLength: 1 << 20, shardCount: 4) { 1_800_000_000 }
        // One payload byte per datagram: 65,535 datagrams carry 65,535 bytes, not 91 MB.
        let handler = MemcacheUDPServerHandler(
            store: store, counters: ServerCounters(loops: 1), loopIndex: 0, maximumLineLength: 2048,
            maximumDatagramSize: MemcacheUDPFrameHeader.size + 1)
        let channel = try EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(handler)
        let value = String(repeating: "v", count: 40_000)
        #expect(try Self.exchange("set a 0 0 40000\r\n\(value)\r\n", on: channel) == "STORED\r\n")
        #expect(try Self.exchange("set b 0 0 40000\r\n\(value)\r\n", on: channel) == "STORED\r\n")
        // 40,024 bytes: 40,024 datagrams.
        #expect(try Self.exchange("get a\r\n", on: channel) == "VALUE a 0 40000\r\n\(value)\r\nEND\r\n")
        // 80,043 bytes: more than the format can number. Before, nothing at all was sent.
        #expect(
            try Self.exchange("get a b\r\n", on: channel)
                == "SERVER_ERROR a reply of 80043 bytes needs more than 65,535 UDP datagrams\r\n")
        // The socket goes on serving.
        #expect(try Self.exchange("mn\r\n", on: channel) == "MN\r\n")
        // Closing breaks the channel's cycle with its pipeline (else AddressSanitizer reports a leak).
        #expect(try channel.finish().isClean)
    }
}
