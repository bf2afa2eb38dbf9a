// The client handler a connection runs: requests chosen by the input's first bytes, then
// arbitrary bytes as the server's replies, cut at arbitrary points. No crash; every request
// completes exactly once (what is left fails when the channel closes); and the cuts never
// change which request gets which outcome — a reply reaching the wrong caller would.
import Channels
import Codecs
import FuzzSupport
import MemcacheClient

let menu: [MemcacheRequest] = [
    .meta(.get("a", flags: [.returnValue])),
    .meta(.get("b", flags: [.returnValue, .returnKey, .returnCAS, .returnFlags])),
    .get(keys: ["a", "b", "c"], withCAS: false),
    .get(keys: ["a"], withCAS: true),
    .metaBatch([.get("a", flags: [.returnValue, .returnKey]), .delete("b")]),
    .meta(.get("q", flags: [.returnValue, .quiet])),
    .meta(.set("a", value: ByteBuffer(string: "v"), flags: [.mode("S")])),
    .store(MemcacheStore(mode: .set, key: "a", value: ByteBuffer(string: "v"))),
    .store(MemcacheStore(mode: .add, key: "a", value: ByteBuffer(string: "v"), noreply: true)),
    .delete(key: "a", noreply: false),
    .arithmetic(key: "n", delta: 1, increment: true, noreply: false),
    .stats(argument: nil),
    .version,
    .meta(.noop),
    // A bulk write's exchange: each command fenced by mn.
    .metaBatch([
        .set("a", value: ByteBuffer(string: "v")), .noop, .delete("b"), .noop,
        .set("c", value: ByteBuffer(string: "w")),
    ]),
]

/// What one request got: replies of a batch, then its one completion.
enum Outcome: Equatable {
    case partial(MemcacheResponse)
    case response(MemcacheResponse)
    case failure(MemcacheError?)
}

final class Outcomes: @unchecked Sendable { // SAFETY: the embedded loop runs on the fuzzer's thread only
    var byRequest: [[Outcome]]
    init(count: Int) { self.byRequest = Array(repeating: [], count: count) }
}

func run(_ requests: [MemcacheRequest], replies: UnsafeRawBufferPointer, pieces: [Int]) -> [[Outcome]] {
    guard let channel = try? EmbeddedChannel(),
        let handler = try? MemcacheConnection.addHandlers(to: channel, maximumValueLength: 1 << 16)
    else { fatalError("the embedded pipeline cannot be built") }
    let outcomes = Outcomes(count: requests.count)
    for (index, request) in requests.enumerated() {
        handler.send(
            request,
            onPartial: { outcomes.byRequest[index].append(.partial($0)) },
            completion: { result in
                switch result {
                case .success(let response): outcomes.byRequest[index].append(.response(response))
                case .failure(let error): outcomes.byRequest[index].append(.failure(error as? MemcacheError))
                }
            }
        )
    }
    channel.embeddedEventLoop.run()
    while (try? channel.readOutbound(as: ByteBuffer.self)) ?? nil != nil {}
    var offset = 0
    var remaining = pieces[...]
    while offset < replies.count, channel.isActive {
        let length = max(1, min(remaining.popFirst() ?? replies.count, replies.count - offset))
        var piece = ByteBuffer()
        piece.writeBytes(UnsafeRawBufferPointer(rebasing: replies[offset..<offset + length]))
        offset += length
        try? channel.writeInbound(piece)
    }
    _ = try? channel.finish()
    for (index, outcome) in outcomes.byRequest.enumerated() {
        let completions = outcome.filter { if case .partial = $0 { false } else { true } }.count
        guard completions == 1 else {
            fatalError("request \(index) (\(requests[index])) completed \(completions) times: \(outcome)")
        }
    }
    return outcomes.byRequest
}

runLibFuzzer { start, count in
    guard let start, count > 2 else { return 0 }
    let all = UnsafeRawBufferPointer(start: start, count: count)
    let requestCount = Int(all[0] % 8) + 1
    guard count > 1 + requestCount + 1 else { return 0 }
    let requests = (0..<requestCount).map { menu[Int(all[1 + $0]) % menu.count] }
    let cutsAt = 1 + requestCount
    let cutCount = Int(all[cutsAt] % 16)
    guard count > cutsAt + 1 + cutCount else { return 0 }
    let pieces = (0..<cutCount).map { Int(all[cutsAt + 1 + $0]) % 64 + 1 }
    let replies = UnsafeRawBufferPointer(rebasing: all[(cutsAt + 1 + cutCount)...])
    let whole = run(requests, replies: replies, pieces: [replies.count])
    let cut = run(requests, replies: replies, pieces: pieces)
    guard whole == cut else { fatalError("the cuts changed who got what: whole \(whole), cut at \(pieces): \(cut)") }
    return 0
}
