// memcached's UDP frames fed arbitrary bytes as a server's datagrams: the header reader and
// the reply assembler never crash, never keep more than they were given, and any payload cut
// into datagrams and delivered in any order within its message comes back whole.
import Channels
import Codecs
import FuzzSupport

runLibFuzzer { start, count in
    guard let start, count > 0 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: start, count: count))

    // 1. The input as datagrams (each a length byte, then that many bytes) from a server.
    var assemblers: [UInt16: MemcacheUDPReplyAssembler] = [:]
    var streams: [UInt16: ByteBuffer] = [:]
    var given = 0
    var offset = 0
    while offset < bytes.count {
        let length = Int(bytes[offset])
        offset += 1
        let end = min(bytes.count, offset + length)
        var datagram = ByteBuffer(bytes: bytes[offset..<end])
        offset = end
        guard let header = try? MemcacheUDPFrameHeader.read(from: &datagram) else { continue }
        precondition(header.sequence < header.total, "a header numbered outside its message was accepted")
        given += datagram.readableBytes
        var assembler = assemblers[header.requestID] ?? MemcacheUDPReplyAssembler(maximumBytes: 4096)
        var stream = streams[header.requestID] ?? ByteBuffer()
        do {
            try assembler.add(header, payload: datagram, into: &stream)
            var decoder = MemcacheResponseDecoder(maximumLineLength: 1024, maximumValueLength: 4096)
            var copy = stream
            while (try? decoder.decode(buffer: &copy)) ?? nil != nil {}
        } catch {
            assembler = MemcacheUDPReplyAssembler(maximumBytes: 4096)
        }
        assemblers[header.requestID] = assembler
        streams[header.requestID] = stream
    }
    let kept = streams.values.reduce(0) { $0 + $1.readableBytes }
    precondition(kept <= given, "the assembler produced \(kept) bytes from \(given)")

    // 2. The input as one reply: cut into small datagrams, each message's order shuffled by
    // the input itself, it reassembles to exactly the input.
    let payload = ByteBuffer(bytes: bytes)
    let size = 9 + Int(bytes[0] % 64)
    guard
        var datagrams = try? MemcacheUDPFrameHeader.datagrams(requestID: 7, payload: payload, maximumDatagramSize: size)
    else { return 0 }
    for index in datagrams.indices.reversed() where index > 0 {
        datagrams.swapAt(index, Int(bytes[index % bytes.count]) % (index + 1))
    }
    var assembler = MemcacheUDPReplyAssembler()
    var stream = ByteBuffer()
    for var datagram in datagrams {
        guard let header = try? MemcacheUDPFrameHeader.read(from: &datagram) else {
            preconditionFailure("a datagram we cut does not read back")
        }
        do {
            try assembler.add(header, payload: datagram, into: &stream)
        } catch {
            preconditionFailure("one message's datagrams in any order failed: \(error)")
        }
    }
    precondition(!assembler.isCollectingMessage && stream == payload, "the reply did not come back whole")
    return 0
}
