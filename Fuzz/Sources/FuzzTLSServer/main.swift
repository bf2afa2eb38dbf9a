// The TLS handler on the server side, fed what a client sends. The input's first byte picks
// one of two games:
//
// - Raw (even): the rest, cut at arbitrary points, is a client's whole stream — ClientHellos,
//   alerts, records of any type and length. It cannot complete a handshake (the server's
//   random differs every run), so no byte of plaintext may come out; every error that
//   reaches the pipeline is a `TLSError`.
// - Session (odd): a real handshake with our client handler, then the rest is a script of
//   client writes, deliveries cut at arbitrary points, corrupted or injected ciphertext,
//   server replies and closes from either side. The server's plaintext is always a prefix
//   of what the client wrote (all of it, when nothing was tampered with and nobody closed
//   early), and the same holds the other way.
//
// After each input both channels are closed and their timers run out, so a pipeline left in
// a reference cycle shows up as a leak.
import Channels
import FuzzSupport

/// The contexts, made once: the certificates are the test fixtures'.
enum Contexts {
    static let fixtures = String(#filePath).split(separator: "/").dropLast(4).joined(separator: "/")
    static let server: TLSContext = make(
        .server(
            certificateChain: .file("/\(fixtures)/Fixtures/tls/server-chain.pem"),
            privateKey: .file("/\(fixtures)/Fixtures/tls/server.key")))
    static let client: TLSContext = {
        var configuration = TLSConfiguration.client(trustRoots: .file("/\(fixtures)/Fixtures/tls/ca.pem"))
        // Resumed handshakes skip the certificate checks: more executions per second. The
        // first one of a run is a full handshake.
        configuration.resumesSessions = true
        return make(configuration)
    }()

    static func make(_ configuration: TLSConfiguration) -> TLSContext {
        do { return try TLSContext(configuration: configuration) } catch {
            fatalError("the fixture context cannot be built: \(error)")
        }
    }
}

/// Feeds `bytes` into `channel`; an error the pipeline caught must be a TLS error.
func feed(_ channel: EmbeddedChannel, _ bytes: ArraySlice<UInt8>) {
    guard channel.isActive, !bytes.isEmpty else { return }
    do {
        try channel.writeInbound(ByteBuffer(bytes: bytes))
    } catch is TLSError {
    } catch {
        fatalError("a non-TLS error reached the pipeline: \(error)")
    }
}

/// Everything `channel` has sent, appended to `pending`.
func collectOutput(of channel: EmbeddedChannel, into pending: inout [UInt8]) {
    while let buffer = (try? channel.readOutbound(as: ByteBuffer.self)) ?? nil { pending += buffer.readableBytesView }
}

/// The plaintext that reached `channel`'s tail, appended to `received`.
func collectPlaintext(of channel: EmbeddedChannel, into received: inout [UInt8]) {
    while let buffer = (try? channel.readInbound(as: ByteBuffer.self)) ?? nil { received += buffer.readableBytesView }
}

/// Closes `channel` and lets every timer it set run out (the close_notify wait, the handshake
/// timeout), so that its pipeline is torn down whatever state the input left it in.
func tearDown(_ channel: EmbeddedChannel) {
    if channel.isActive { _ = channel.close() }
    channel.embeddedEventLoop.advanceTime(by: .seconds(60))
    _ = try? channel.finish()
    channel.embeddedEventLoop.advanceTime(by: .seconds(60))
}

func raw(_ input: ArraySlice<UInt8>) {
    guard let cutByte = input.first else { return }
    let cutCount = Int(cutByte % 16)
    let rest = input.dropFirst()
    guard rest.count > cutCount else { return }
    let pieces = rest.prefix(cutCount).map { Int($0) % 64 + 1 }
    var stream = rest.dropFirst(cutCount)
    guard let server = try? EmbeddedChannel(handlers: [try TLSHandler(context: Contexts.server)]) else {
        fatalError("the server pipeline cannot be built")
    }
    var remaining = pieces[...]
    while !stream.isEmpty, server.isActive {
        let length = remaining.popFirst() ?? stream.count
        feed(server, stream.prefix(length))
        stream = stream.dropFirst(length)
    }
    var plaintext: [UInt8] = []
    collectPlaintext(of: server, into: &plaintext)
    guard plaintext.isEmpty else { fatalError("plaintext out of a stream that cannot hold a handshake: \(plaintext)") }
    tearDown(server)
}

/// Both ends of one connection and what each side has sent and received.
struct Session {
    let client: EmbeddedChannel
    let server: EmbeddedChannel
    /// Ciphertext sent and not yet delivered.
    var toServer: [UInt8] = []
    var toClient: [UInt8] = []
    var clientWrote: [UInt8] = []
    var serverWrote: [UInt8] = []
    var serverReceived: [UInt8] = []
    var clientReceived: [UInt8] = []
    /// Whether a stream was tampered with or closed early: then a prefix is all one can ask.
    var tampered = false

    init?() {
        guard let server = try? EmbeddedChannel(handlers: [try TLSHandler(context: Contexts.server)]),
            let client = try? EmbeddedChannel(handlers: [
                try TLSHandler(context: Contexts.client, serverHostname: "localhost")
            ])
        else { fatalError("the pipelines cannot be built") }
        self.client = client
        self.server = server
        for _ in 0..<8 {
            self.pump()
            if self.toServer.isEmpty && self.toClient.isEmpty { break }
            feed(server, self.toServer[...])
            feed(client, self.toClient[...])
            self.toServer = []
            self.toClient = []
        }
        self.pump()
        guard client.isActive, server.isActive else { fatalError("the fixture handshake failed") }
    }

    mutating func pump() {
        collectOutput(of: self.client, into: &self.toServer)
        collectOutput(of: self.server, into: &self.toClient)
        collectPlaintext(of: self.server, into: &self.serverReceived)
        collectPlaintext(of: self.client, into: &self.clientReceived)
    }

    /// Plaintext number `count` of a side's writes: a pattern that shows where bytes went.
    static func text(_ count: Int, after written: Int, salt: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: (written + $0) &* 31) ^ salt }
    }

    mutating func play(_ script: ArraySlice<UInt8>) {
        var script = script
        while let operation = script.popFirst() {
            let argument = Int(script.popFirst() ?? 0)
            switch operation % 8 {
            case 0: // the client writes 1…4096 bytes
                let bytes = Self.text(argument * 16 + 1, after: self.clientWrote.count, salt: 0x5A)
                if self.client.isActive {
                    self.clientWrote += bytes
                    _ = try? self.client.writeOutbound(ByteBuffer(bytes: bytes))
                }
            case 1: // deliver part of the client's ciphertext
                self.pump()
                let length = min(self.toServer.count, argument * 8 + 1)
                feed(self.server, self.toServer.prefix(length))
                self.toServer.removeFirst(length)
            case 2: // flip a bit of the client's ciphertext in flight
                self.pump()
                if !self.toServer.isEmpty {
                    self.toServer[argument % self.toServer.count] ^= 1 << (operation >> 5)
                    self.tampered = true
                }
            case 3: // inject bytes of the script into the client's stream
                let bytes = script.prefix(argument % 32)
                script = script.dropFirst(bytes.count)
                self.pump()
                if !bytes.isEmpty {
                    self.toServer.insert(contentsOf: bytes, at: argument % (self.toServer.count + 1))
                    self.tampered = true
                }
            case 4: // the client closes (close_notify)
                _ = self.client.close()
                self.client.embeddedEventLoop.run()
                self.tampered = true
            case 5: // the server answers
                let bytes = Self.text(argument * 16 + 1, after: self.serverWrote.count, salt: 0xA5)
                if self.server.isActive {
                    self.serverWrote += bytes
                    _ = try? self.server.writeOutbound(ByteBuffer(bytes: bytes))
                }
            case 6: // the server closes
                _ = self.server.close()
                self.server.embeddedEventLoop.run()
                self.tampered = true
            default: // deliver everything the server sent
                self.pump()
                feed(self.client, self.toClient[...])
                self.toClient = []
            }
            self.pump()
        }
        // Deliver what is left both ways, until nothing moves.
        for _ in 0..<8 {
            self.pump()
            if self.toServer.isEmpty && self.toClient.isEmpty { break }
            feed(self.server, self.toServer[...])
            feed(self.client, self.toClient[...])
            self.toServer = []
            self.toClient = []
        }
        self.pump()
    }

    func check() {
        guard self.clientWrote.starts(with: self.serverReceived) else {
            fatalError(
                "the server received bytes the client never wrote (\(self.serverReceived.count) of \(self.clientWrote.count))"
            )
        }
        guard self.serverWrote.starts(with: self.clientReceived) else {
            fatalError(
                "the client received bytes the server never wrote (\(self.clientReceived.count) of \(self.serverWrote.count))"
            )
        }
        if !self.tampered {
            guard self.serverReceived.count == self.clientWrote.count,
                self.clientReceived.count == self.serverWrote.count
            else {
                fatalError(
                    "bytes lost on an untouched connection: server got \(self.serverReceived.count) of \(self.clientWrote.count), client \(self.clientReceived.count) of \(self.serverWrote.count)"
                )
            }
        }
    }
}

runLibFuzzer { start, count in
    guard let start, count > 1 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: start, count: count))
    if input[0] % 2 == 0 {
        raw(input.dropFirst())
    } else {
        guard var session = Session() else { return 0 }
        session.play(input.dropFirst())
        session.check()
        tearDown(session.client)
        tearDown(session.server)
    }
    return 0
}
