import Channels
import Codecs
import MemcacheClient
import TestSupport
import Testing

/// The TLS records in `ciphertext`: (content type, length) of each record header.
private func records(in ciphertext: ByteBuffer) -> [(type: UInt8, length: Int)] {
    var records: [(type: UInt8, length: Int)] = []
    var index = ciphertext.readerIndex
    while let type = ciphertext.getByte(at: index), let high = ciphertext.getByte(at: index + 3),
        let low = ciphertext.getByte(at: index + 4)
    {
        let length = Int(high) << 8 | Int(low)
        records.append((type, length))
        index += 5 + length
    }
    return records
}

@Suite("Memcache client over TLS")
struct MemcacheClientTLSTests {
    @Test("the requests of one loop turn leave as one TLS record, in one write")
    func oneRecordPerTurn() throws {
        let serverContext = try TLSContext.patient(
            configuration: .server(
                certificateChain: .file(fixturePath("tls/server.pem")), privateKey: .file(fixturePath("tls/server.key"))
            ))
        let clientContext = try TLSContext.patient(configuration: .client(trustRoots: .file(fixturePath("tls/ca.pem"))))
        let server = try EmbeddedChannel(handlers: [try TLSHandler(context: serverContext)])
        let client = try EmbeddedChannel(handlers: [try TLSHandler(context: clientContext, serverHostname: "localhost")]
        )
        let handler = try MemcacheConnection.addHandlers(to: client)
        @discardableResult
        func move(from: EmbeddedChannel, to: EmbeddedChannel) throws -> [ByteBuffer] {
            var moved: [ByteBuffer] = []
            while let ciphertext = try from.readOutbound(as: ByteBuffer.self) {
                moved.append(ciphertext)
                try to.writeInbound(ciphertext)
            }
            return moved
        }
        for _ in 0..<10 where try !move(from: client, to: server).isEmpty || !move(from: server, to: client).isEmpty {}

        for index in 0..<50 {
            handler.send(.meta(.get(try MemcacheKey("key-\(index)"), flags: [.returnValue]))) { _ in }
        }
        client.embeddedEventLoop.run()
        let writes = try move(from: client, to: server)
        #expect(writes.count == 1)
        let sent = writes.first.map(records(in:)) ?? []
        #expect(sent.count == 1 && sent.first?.type == 23, "\(sent)") // one application-data record
        var plaintext = ""
        while let bytes = try server.readInbound(as: ByteBuffer.self) {
            plaintext += bytes.getString(at: bytes.readerIndex, length: bytes.readableBytes) ?? ""
        }
        #expect(plaintext == (0..<50).map { "mg key-\($0) v\r\n" }.joined())

        _ = client.close()
        try move(from: client, to: server)
        try move(from: server, to: client)
        _ = try? client.finish()
        _ = try? server.finish()
    }
}
