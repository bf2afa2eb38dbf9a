// The server's connection handler and command processor — fast path, decoder, store — fed
// arbitrary bytes as a client's requests, cut at arbitrary points: no crash, and the cuts
// never change the replies (the store, with a fixed clock, ends the same either way). The
// text of a CLIENT_ERROR may name how much was buffered, so only its first word is compared;
// `stats` uptime is the process's.
import Channels
import Codecs
import FuzzSupport
import Logging

@testable import MemcacheServer

func replies(to requests: UnsafeRawBufferPointer, pieces: [Int]) -> [UInt8] {
    let store = ItemStore(memoryLimit: 1 << 20, maximumValueLength: 4096, shardCount: 4) { 1_800_000_000 }
    guard let channel = try? EmbeddedChannel(activate: false) else { fatalError("no embedded channel") }
    let handler = MemcacheServerHandler(
        settings: .init(
            store: store, counters: ServerCounters(loops: 1), loopIndex: 0,
            connections: LoopConnections(
                logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }), eventLoop: channel.eventLoop),
            maximumConnections: 10, maximumLineLength: 1024, drainCloseMode: .all, incompleteRequestTimeout: nil))
    guard (try? channel.pipeline.syncOperations.addHandler(handler)) != nil, (try? channel.activate()) != nil
    else { fatalError("the embedded pipeline cannot be built") }
    var output: [UInt8] = []
    var offset = 0
    var remaining = pieces[...]
    while offset < requests.count, channel.isActive {
        let length = max(1, min(remaining.popFirst() ?? requests.count, requests.count - offset))
        var piece = ByteBuffer()
        piece.writeBytes(UnsafeRawBufferPointer(rebasing: requests[offset..<offset + length]))
        offset += length
        try? channel.writeInbound(piece)
        while let buffer = (try? channel.readOutbound(as: ByteBuffer.self)) ?? nil {
            output += buffer.readableBytesView
        }
    }
    _ = try? channel.finish()
    return normalized(output)
}

/// The replies with every `CLIENT_ERROR …` line cut to its first word, and `STAT uptime`
/// (the process's, not the store's fixed clock) to its name.
func normalized(_ bytes: [UInt8]) -> [UInt8] {
    var result: [UInt8] = []
    var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)[...]
    let cutToPrefix = [Array("CLIENT_ERROR".utf8), Array("STAT uptime".utf8)]
    while let line = lines.popFirst() {
        if let prefix = cutToPrefix.first(where: { line.starts(with: $0) }) { result += prefix } else { result += line }
        if !lines.isEmpty { result.append(UInt8(ascii: "\n")) }
    }
    return result
}

runLibFuzzer { start, count in
    guard let start, count > 2 else { return 0 }
    let all = UnsafeRawBufferPointer(start: start, count: count)
    let cutCount = Int(all[0] % 16)
    guard count > 1 + cutCount else { return 0 }
    let pieces = (0..<cutCount).map { Int(all[1 + $0]) % 64 + 1 }
    let requests = UnsafeRawBufferPointer(rebasing: all[(1 + cutCount)...])
    let whole = replies(to: requests, pieces: [requests.count])
    let cut = replies(to: requests, pieces: pieces)
    guard whole == cut else {
        fatalError(
            "the cuts changed the replies:\n\(String(decoding: whole, as: UTF8.self))\n--- cut at \(pieces):\n\(String(decoding: cut, as: UTF8.self))"
        )
    }
    return 0
}
