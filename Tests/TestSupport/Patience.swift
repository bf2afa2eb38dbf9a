public import Channels

/// How long a test lets a wait run that is not what it checks (response, lease, connect and
/// handshake timeouts, safety closes): far beyond a stall. Swift Testing starts every test at
/// once, so under a sanitizer on 2 cores each test's wall time includes everyone else's CPU;
/// the heaviest tests have stalled the others for over a minute, and 5 s timeouts failed CI
/// runs. On a slower 2-core machine (an AMD EPYC, 2026-12) the ThreadSanitizer suite took
/// 13 minutes, progressing in bursts about 30 s apart, and waits of 300 s ran out: 600 s.
public let testPatience = TimeAmount.seconds(600)

extension TLSContext {
    /// A context for tests: its handshakes wait up to `testPatience` unless the configuration
    /// sets a timeout of its own (a test of the timeout), since a sanitizer's stall outlasts
    /// the 10 s default.
    public static func patient(configuration: TLSConfiguration) throws -> TLSContext {
        var configuration = configuration
        if configuration.handshakeTimeout == TLSConfiguration(role: configuration.role).handshakeTimeout {
            configuration.handshakeTimeout = testPatience
        }
        return try TLSContext(configuration: configuration)
    }
}
