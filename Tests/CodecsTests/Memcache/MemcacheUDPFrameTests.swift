import Channels
import Codecs
import Testing

@Suite("memcache UDP frames and reply reassembly")
struct MemcacheUDPFrameTests {
    private func datagram(_ id: UInt16, _ sequence: UInt16, _ total: UInt16, _ payload: String) -> ByteBuffer {
        var buffer = ByteBuffer()
        MemcacheUDPFrameHeader(requestID: id, sequence: sequence, total: total).write(into: &buffer)
        buffer.writeString(payload)
        return buffer
    }

    @Test("a header is 8 big-endian bytes and reads back, leaving the payload")
    func headerRoundTrip() throws {
        var buffer = self.datagram(0x0102, 3, 4, "VALUE")
        #expect(buffer.getBytes(at: 0, length: 8) == [1, 2, 0, 3, 0, 4, 0, 0])
        let header = try MemcacheUDPFrameHeader.read(from: &buffer)
        #expect(header == MemcacheUDPFrameHeader(requestID: 0x0102, sequence: 3, total: 4))
        #expect(buffer == ByteBuffer(string: "VALUE"))
    }

    @Test("short datagrams, no datagrams announced and numbers outside the message are typed errors")
    func badHeaders() {
        for bytes: [UInt8] in [[], [0, 1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0, 0, 0], [0, 1, 0, 2, 0, 2, 0, 0]] {
            var buffer = ByteBuffer(bytes: bytes)
            #expect(throws: MemcacheError.self) { try MemcacheUDPFrameHeader.read(from: &buffer) }
        }
    }

    @Test("a reply is cut into datagrams of at most 1,400 bytes, numbered, all of one total")
    func cutting() throws {
        let payload = ByteBuffer(bytes: (0..<3000).map { UInt8(truncatingIfNeeded: $0) })
        let datagrams = try MemcacheUDPFrameHeader.datagrams(requestID: 9, payload: payload)
        #expect(datagrams.map(\.readableBytes) == [1400, 1400, 3000 - 2 * 1392 + 8])
        var joined = ByteBuffer()
        for (index, var datagram) in datagrams.enumerated() {
            let header = try MemcacheUDPFrameHeader.read(from: &datagram)
            #expect(header == MemcacheUDPFrameHeader(requestID: 9, sequence: UInt16(index), total: 3))
            joined.writeBuffer(&datagram)
        }
        #expect(joined == payload)
        #expect(try MemcacheUDPFrameHeader.datagrams(requestID: 1, payload: ByteBuffer()).count == 1)
    }

    /// memcached 1.6.18's reply to `get a b c` (a: 3,000 bytes, b: "hello", c missing), as
    /// captured from `memcached -U`: three messages under one request ID.
    private func memcachedMultiGet() -> [ByteBuffer] {
        let value = String(repeating: "x", count: 3000)
        let first = "VALUE a 0 3000\r\n" + value + "\r\n"
        let bytes = Array(first.utf8)
        let cut = [0, 1392, 2784, bytes.count]
        var datagrams = (0..<3).map { index in
            self.datagram(3, UInt16(index), 3, String(decoding: bytes[cut[index]..<cut[index + 1]], as: UTF8.self))
        }
        datagrams.append(self.datagram(3, 0, 1, "VALUE b 0 5\r\nhello\r\n"))
        datagrams.append(self.datagram(3, 0, 1, "END\r\n"))
        return datagrams
    }

    private func assemble(_ datagrams: [ByteBuffer]) throws -> MemcacheResponse? {
        var assembler = MemcacheUDPReplyAssembler()
        var stream = ByteBuffer()
        var decoder = MemcacheResponseDecoder()
        for var datagram in datagrams {
            let header = try MemcacheUDPFrameHeader.read(from: &datagram)
            try assembler.add(header, payload: datagram, into: &stream)
            if !assembler.isCollectingMessage, let reply = try decoder.decode(buffer: &stream) { return reply }
        }
        return nil
    }

    @Test(
        "memcached's multi-message multi-get reassembles into one reply, in order or with a message's datagrams reordered"
    )
    func reassembly() throws {
        let datagrams = self.memcachedMultiGet()
        for order in [[0, 1, 2, 3, 4], [2, 0, 1, 3, 4], [1, 2, 0, 3, 4]] {
            guard case .values(let items) = try self.assemble(order.map { datagrams[$0] }) else {
                Issue.record("no reply for order \(order)")
                continue
            }
            #expect(items.map { String(decoding: $0.key, as: UTF8.self) } == ["a", "b"])
            #expect(items[0].value.readableBytes == 3000)
            #expect(items[1].value == ByteBuffer(string: "hello"))
        }
    }

    @Test(
        "a lost datagram is a typed error once the next message begins, else an incomplete reply; a repeat is ignored")
    func lossAndRepeats() throws {
        let datagrams = self.memcachedMultiGet()
        do {
            _ = try self.assemble([datagrams[0], datagrams[2], datagrams[3], datagrams[4]])
            Issue.record("a lost datagram went unnoticed")
        } catch let error as MemcacheError {
            #expect(error.code == .datagramLost)
        }
        #expect(try self.assemble(Array(datagrams[0..<4])) == nil)
        guard case .values(let items) = try self.assemble([datagrams[0], datagrams[0]] + datagrams[1...]) else {
            Issue.record("a repeated datagram broke the reply")
            return
        }
        #expect(items.count == 2)
        var small = MemcacheUDPReplyAssembler(maximumBytes: 100)
        var stream = ByteBuffer()
        #expect(throws: MemcacheError.self) {
            try small.add(
                MemcacheUDPFrameHeader(requestID: 1), payload: ByteBuffer(bytes: [UInt8](repeating: 1, count: 101)),
                into: &stream)
        }
    }
}
