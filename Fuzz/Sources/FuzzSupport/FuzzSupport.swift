import Channels
public import Codecs
import Glibc

/// Runs libFuzzer with `body` as the target. SwiftPM gives an executable its own `main`, so
/// the harness calls libFuzzer's driver from it (the package is linked with lld, which lets
/// that `main` stand in for libFuzzer's).
public func runLibFuzzer(_ body: @escaping @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, body))
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// What a decoder made of a stream: its messages, and whether it then threw.
public struct Decoded<Message: Equatable>: Equatable {
    public var messages: [Message] = []
    public var threw = false
}

/// Feeds `bytes` to a fresh decoder the way `ByteToMessageHandler` does — appending each
/// piece to what is left and decoding until it needs more — and records what came out.
/// `pieces` are the lengths of the reads; the last one takes whatever remains.
public func decode<D: ByteToMessageDecoder>(
    _ bytes: UnsafeRawBufferPointer, pieces: [Int], with make: () -> D
) -> Decoded<D.Message> where D.Message: Equatable {
    var decoder = make()
    var decoded = Decoded<D.Message>()
    var buffer = ByteBuffer()
    var offset = 0
    var remaining = pieces[...]
    while offset < bytes.count {
        let length = min(remaining.popFirst() ?? bytes.count, bytes.count - offset)
        buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + max(1, length)]))
        offset += max(1, length)
        do {
            while let message = try decoder.decode(buffer: &buffer) { decoded.messages.append(message) }
        } catch {
            decoded.threw = true
            return decoded
        }
        buffer.discardReadBytes()
    }
    return decoded
}

/// The oracle of every decoder harness: a stream must decode to the same messages (and the
/// same failure) whether it arrives in one read or cut at arbitrary points. The input's
/// first bytes choose the cuts; the rest is the stream.
public func checkCutsDoNotMatter<D: ByteToMessageDecoder>(
    _ start: UnsafePointer<UInt8>?, _ count: Int, _ make: () -> D
) -> CInt where D.Message: Equatable {
    guard let start, count > 2 else { return 0 }
    let all = UnsafeRawBufferPointer(start: start, count: count)
    let cutCount = Int(all[0] % 16)
    guard count > 1 + cutCount else { return 0 }
    let pieces = (0..<cutCount).map { Int(all[1 + $0]) % 64 + 1 }
    let stream = UnsafeRawBufferPointer(rebasing: all[(1 + cutCount)...])
    let whole = decode(stream, pieces: [stream.count], with: make)
    let cut = decode(stream, pieces: pieces, with: make)
    guard whole == cut else {
        fatalError("the cuts changed the result: whole \(whole), cut at \(pieces): \(cut)")
    }
    return 0
}
