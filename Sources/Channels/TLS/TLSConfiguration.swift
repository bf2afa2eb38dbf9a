/// What a TLS endpoint presents and accepts. A value: build one, then a `TLSContext` from it.
///
/// Thread-safe (a value). Verification is on by default (chain and host name or IP);
/// turning it off takes `verification: .none`, by name.
///
/// ```swift
/// let client = TLSConfiguration.client(trustRoots: .file("ca.pem"), alpnProtocols: ["memcache"])
/// let server = TLSConfiguration.server(certificateChain: .file("chain.pem"), privateKey: .file("key.pem"))
/// ```
public struct TLSConfiguration: Sendable {
    public enum Role: Sendable { case client, server }

    /// A TLS protocol version.
    public enum ProtocolVersion: Sendable, Comparable {
        case tls12, tls13
    }

    /// PEM data, from a file or in memory.
    public enum PEMSource: Sendable {
        case file(String)
        case bytes([UInt8])
    }

    /// Whom to trust.
    public enum TrustRoots: Sendable {
        /// The system's certificate store.
        case system
        case pem(PEMSource)

        /// A CA file.
        public static func file(_ path: String) -> TrustRoots { .pem(.file(path)) }
    }

    /// How much of the peer to verify.
    public enum Verification: Sendable {
        /// The chain and (for clients) the host name or IP address. The default.
        case full
        /// The chain only.
        case noHostnameCheck
        /// Nothing: anyone in the middle can read and change the traffic.
        case none
    }

    /// Whether a server asks for client certificates.
    public enum ClientCertificates: Sendable {
        case none, optional, required
    }

    public var role: Role
    public var minimumVersion: ProtocolVersion = .tls12
    public var maximumVersion: ProtocolVersion?
    /// What verifies the peer's certificate: the server's on clients, the client's on servers
    /// that ask for one (a server with `clientCertificates: .none` loads none).
    public var trustRoots: TrustRoots = .system
    /// Our certificate first, then the intermediates to send with it. It is sent exactly as
    /// given: OpenSSL does not complete it from the trust store (which would search the
    /// store, on disk for `.system`, at every handshake).
    public var certificateChain: PEMSource?
    public var privateKey: PEMSource?
    public var clientCertificates: ClientCertificates = .none
    public var verification: Verification = .full
    public var alpnProtocols: [String] = []
    /// OpenSSL cipher list for TLS 1.2 (nil: OpenSSL's default).
    public var cipherList: String?
    /// OpenSSL cipher suites for TLS 1.3, most preferred first. The default is OpenSSL's three
    /// with AES-128-GCM first (as BoringSSL and Go order them; OpenSSL puts AES-256 first),
    /// which moves bulk data faster with AES hardware and is the suite every TLS 1.3
    /// implementation must support.
    public var cipherSuites: String? = TLSConfiguration.defaultCipherSuites
    public static let defaultCipherSuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    /// Clients: resume the last session with the same server name (a TLS 1.3 ticket or a
    /// TLS 1.2 session), which skips the certificate exchange and its signature checks. The
    /// sessions are kept in the `TLSContext`, so connections share them. Ignored on servers,
    /// which always offer resumption, and for clients without a server name.
    ///
    /// Off by default: some servers break on it. A server that verifies client certificates
    /// but never set a session id context — memcached 1.6.18 with `-Z` and
    /// `ssl_verify_mode=2` is one — answers a resumption attempt with an `internal_error`
    /// alert. When a handshake that offered a session fails, the session is forgotten, so
    /// the next connection makes a full handshake.
    public var resumesSessions = false
    /// How long a handshake may take.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// How long `close` waits for the peer's close_notify.
    public var closeTimeout: TimeAmount = .seconds(3)
    /// The most plaintext buffered while the handshake runs.
    public var maximumBufferedPlaintext = 1 << 20

    public init(role: Role) {
        self.role = role
    }

    /// A client configuration.
    public static func client(
        trustRoots: TrustRoots = .system,
        certificateChain: PEMSource? = nil,
        privateKey: PEMSource? = nil,
        verification: Verification = .full,
        alpnProtocols: [String] = []
    ) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .client)
        configuration.trustRoots = trustRoots
        configuration.certificateChain = certificateChain
        configuration.privateKey = privateKey
        configuration.verification = verification
        configuration.alpnProtocols = alpnProtocols
        return configuration
    }

    /// A server configuration.
    public static func server(
        certificateChain: PEMSource,
        privateKey: PEMSource,
        clientCertificates: ClientCertificates = .none,
        trustRoots: TrustRoots = .system,
        alpnProtocols: [String] = []
    ) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .server)
        configuration.certificateChain = certificateChain
        configuration.privateKey = privateKey
        configuration.clientCertificates = clientCertificates
        configuration.trustRoots = trustRoots
        configuration.alpnProtocols = alpnProtocols
        return configuration
    }
}
