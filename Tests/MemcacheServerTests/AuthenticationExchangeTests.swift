import Codecs
import Testing

@testable import MemcacheServer

@Suite("The server's half of ASCII authentication, byte by byte")
struct AuthenticationExchangeTests {
    typealias Step = AuthenticationExchange.Step

    /// Feeds `input` to a fresh exchange step by step (as the handler does), with alice:secret
    /// the one user; returns every step until it needs more.
    static func steps(_ input: String, exchange: inout AuthenticationExchange) -> [Step] {
        var bytes = Array(input.utf8)
        var steps: [Step] = []
        while true {
            let step = bytes.withUnsafeBytes { raw in
                exchange.step(raw) { user, password in
                    user.elementsEqual("alice".utf8) && password.elementsEqual("secret".utf8)
                }
            }
            steps.append(step)
            switch step {
            case .needMore, .close: return steps
            case .readLine(let consumed), .reply(_, let consumed), .authenticated(let consumed),
                .refused(let consumed):
                bytes.removeFirst(consumed)
                if case .authenticated = step { return steps }
            }
        }
    }

    static func steps(_ input: String) -> [Step] {
        var exchange = AuthenticationExchange()
        return Self.steps(input, exchange: &exchange)
    }

    @Test("the set line, then its value: STORED for a user, authentication failure otherwise")
    func credentials() {
        #expect(
            Self.steps("set a 0 0 12\r\nalice secret\r\n") == [.readLine(consumed: 14), .authenticated(consumed: 14)])
        #expect(
            Self.steps("set a 0 0 12\r\nalice wrong!\r\n") == [
                .readLine(consumed: 14), .refused(consumed: 14), .needMore,
            ])
        // More tokens, runs of spaces, a leading space, a bare \n ending the line: all as memcached.
        #expect(Self.steps("set k 1 2 19 noreply\r\nalice secret extra1\r\n").last == .authenticated(consumed: 21))
        #expect(Self.steps("set a 0 0 13\r\nalice  secret\r\n").last == .authenticated(consumed: 15))
        #expect(Self.steps("set a 0 0 13\r\n alice secret\r\n").last == .authenticated(consumed: 15))
        #expect(
            Self.steps("set a 0 0 12\nalice secret\r\n") == [.readLine(consumed: 13), .authenticated(consumed: 14)])
        #expect(Self.steps("set a 0 0 +12\r\nalice secret\r\n").last == .authenticated(consumed: 14))
    }

    @Test("anything but an authentication set is answered unauthenticated, and the connection stays")
    func unauthenticated() {
        for line in [
            "get foo\r\n", "version\r\n", "mg foo v\r\n", "quit\r\n", "\r\n", "set\n", "SET a 0 0 12\r\n",
            "set a 0 0 x\r\n", "set a 0 0 -1\r\n", "set a 0 0\r\n", "sets a 0 0 5\r\n", "set a 0 0 12x\r\n",
        ] {
            #expect(
                Self.steps(line) == [.reply("CLIENT_ERROR unauthenticated", consumed: line.utf8.count), .needMore],
                "\(line.debugDescription)")
        }
    }

    @Test("a bad value: its termination, its token count, a NUL ending it early")
    func badValues() {
        #expect(
            Self.steps("set a 0 0 12\r\nalice secretXX").dropFirst().first
                == .reply("CLIENT_ERROR bad command line termination", consumed: 14))
        for value in ["abc", "alice ", "\0alice secret"] {
            let line = "set a 0 0 \(value.utf8.count)\r\n\(value)\r\n"
            #expect(
                Self.steps(line).dropFirst().first
                    == .reply("CLIENT_ERROR bad authentication token format", consumed: value.utf8.count + 2),
                "\(value.debugDescription)")
        }
        #expect(
            Self.steps("set a 0 0 0\r\n\r\n").contains(
                .reply("CLIENT_ERROR bad authentication token format", consumed: 2)))
        #expect(
            Self.steps("set a 0 0 16385\r\n").first == .reply("CLIENT_ERROR auth token too long", consumed: 17))
    }

    @Test("input split anywhere waits for the rest; junk without a line end closes")
    func splitInput() {
        let whole = "get x\r\nset a 0 0 12\r\nalice secret\r\n"
        for cut in 0...whole.utf8.count {
            var exchange = AuthenticationExchange()
            let bytes = Array(whole.utf8)
            var first = Self.steps(String(decoding: bytes[..<cut], as: UTF8.self), exchange: &exchange)
            let used = first.reduce(0) { total, step in
                switch step {
                case .readLine(let consumed), .reply(_, let consumed), .authenticated(let consumed),
                    .refused(let consumed):
                    return total + consumed
                case .needMore, .close: return total
                }
            }
            first += Self.steps(String(decoding: bytes[used...], as: UTF8.self), exchange: &exchange)
            #expect(first.contains(.reply("CLIENT_ERROR unauthenticated", consumed: 7)), "cut at \(cut)")
            #expect(first.contains(.authenticated(consumed: 14)), "cut at \(cut)")
        }
        #expect(Self.steps(String(repeating: "x", count: 2049)) == [.close])
        #expect(Self.steps(String(repeating: "x", count: 2048)) == [.needMore])
    }

    @Test("memcached's number rule for the length")
    func length() {
        let cases: [(String, UInt32?)] = [
            ("12", 12), ("+12", 12), ("-0", 0), ("-1", nil), ("x", nil), ("12x", nil), ("12\r", 12), ("", nil),
            ("99999999999999999999", nil), ("4294967297", 1),
        ]
        for (token, expected) in cases {
            #expect(AuthenticationExchange.strtoul(Array(token.utf8)[...]) == expected, "\(token.debugDescription)")
        }
    }
}
