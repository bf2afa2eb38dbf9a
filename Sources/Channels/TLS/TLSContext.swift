import CTLS

/// An OpenSSL `SSL_CTX` built from a `TLSConfiguration`: certificates, keys, trust roots,
/// protocol versions and ALPN, shared by every connection that uses it.
///
/// Thread-safe: after construction the context is only read (OpenSSL allows creating
/// connections from one context on many threads). Building one reads files and parses
/// keys: do it once, off the event loops, and share it.
///
/// ```swift
/// let context = try TLSContext(configuration: .client(trustRoots: .file("ca.pem")))
/// ```
public final class TLSContext: @unchecked Sendable { // SAFETY: the SSL_CTX is immutable after init
    let context: OpaquePointer
    public let configuration: TLSConfiguration
    /// ALPN list in wire format, kept alive for the server's selection callback.
    private let alpnWire: ALPNWire
    /// Client sessions for resumption; nil on servers or when `resumesSessions` is off.
    let sessionCache: TLSSessionCache?

    final class ALPNWire {
        let bytes: [UInt8]
        init(_ protocols: [String]) {
            self.bytes = protocols.flatMap { [UInt8(truncatingIfNeeded: $0.utf8.count)] + Array($0.utf8) }
        }
    }

    /// - Throws: `TLSError.invalidConfiguration` with OpenSSL's reason.
    public init(configuration: TLSConfiguration) throws {
        OpenSSLErrors.clear()
        let method = configuration.role == .client ? TLS_client_method() : TLS_server_method()
        guard let context = SSL_CTX_new(method) else {
            throw TLSError(.invalidConfiguration, OpenSSLErrors.message("SSL_CTX_new failed"))
        }
        self.context = context
        self.configuration = configuration
        self.alpnWire = ALPNWire(configuration.alpnProtocols)
        self.sessionCache = configuration.role == .client && configuration.resumesSessions ? TLSSessionCache() : nil
        // If this throws, deinit still runs (every stored property is set) and frees the context.
        try self.configure()
    }

    deinit {
        SSL_CTX_free(self.context)
    }

    private func configure() throws {
        let configuration = self.configuration
        func check(_ ok: Bool, _ what: String) throws {
            if !ok { throw TLSError(.invalidConfiguration, OpenSSLErrors.message(what)) }
        }
        try check(
            CTLS_SSL_CTX_set_min_proto_version(self.context, Self.version(configuration.minimumVersion)) == 1,
            "cannot set the minimum version")
        if let maximum = configuration.maximumVersion {
            try check(
                CTLS_SSL_CTX_set_max_proto_version(self.context, Self.version(maximum)) == 1,
                "cannot set the maximum version")
        }
        // Record buffers stay allocated per connection (no SSL_MODE_RELEASE_BUFFERS): releasing
        // them costs a malloc and free per record, measured as most of the allocations of a bulk
        // transfer; a pool keeps few connections, so the memory (about 34 KiB each) is the better trade.
        if let list = configuration.cipherList {
            try check(SSL_CTX_set_cipher_list(self.context, list) == 1, "cipher list '\(list)' matches nothing")
        }
        if let suites = configuration.cipherSuites {
            try check(SSL_CTX_set_ciphersuites(self.context, suites) == 1, "cipher suites '\(suites)' match nothing")
        }
        // The chain is sent as configured. OpenSSL would otherwise complete it from the trust
        // store at every handshake, and with the system store that lists /etc/ssl/certs each
        // time (strace: one directory scan per server handshake; 372 -> 405 handshakes/s).
        _ = CTLS_SSL_CTX_set_mode(self.context, Int(SSL_MODE_NO_AUTO_CHAIN))
        if configuration.role == .client || configuration.clientCertificates != .none {
            try self.loadTrustRoots(configuration.trustRoots)
        }
        if let chain = configuration.certificateChain {
            try self.loadCertificateChain(chain)
        }
        if let key = configuration.privateKey {
            try self.loadPrivateKey(key)
            try check(SSL_CTX_check_private_key(self.context) == 1, "the private key does not match the certificate")
        }
        try self.configureVerification()
        try self.configureALPN()
        try self.configureResumption()
    }

    private func configureResumption() throws {
        switch self.configuration.role {
        case .client:
            if self.sessionCache != nil { TLSSessionCache.enable(on: self.context) }
        case .server:
            // OpenSSL refuses to resume a session of a verified client certificate unless
            // the context names itself; any fixed name does.
            let name = Array("swift-channels".utf8)
            guard SSL_CTX_set_session_id_context(self.context, name, UInt32(name.count)) == 1 else {
                throw TLSError(.invalidConfiguration, OpenSSLErrors.message("cannot set the session id context"))
            }
        }
    }

    private static func version(_ version: TLSConfiguration.ProtocolVersion) -> Int32 {
        switch version {
        case .tls12: return Int32(TLS1_2_VERSION)
        case .tls13: return Int32(TLS1_3_VERSION)
        }
    }

    private func loadTrustRoots(_ roots: TLSConfiguration.TrustRoots) throws {
        switch roots {
        case .system:
            guard SSL_CTX_set_default_verify_paths(self.context) == 1 else {
                throw TLSError(.invalidConfiguration, OpenSSLErrors.message("cannot load the system trust store"))
            }
        case .pem(.file(let path)):
            guard SSL_CTX_load_verify_locations(self.context, path, nil) == 1 else {
                throw TLSError(.invalidConfiguration, OpenSSLErrors.message("cannot load trust roots from \(path)"))
            }
        case .pem(.bytes(let bytes)):
            let store = SSL_CTX_get_cert_store(self.context)
            let certificates = try PEM.certificates(bytes)
            for certificate in certificates {
                defer { X509_free(certificate) }
                guard X509_STORE_add_cert(store, certificate) == 1 else {
                    throw TLSError(.invalidConfiguration, OpenSSLErrors.message("cannot add a trust root"))
                }
            }
        }
    }

    private func loadCertificateChain(_ source: TLSConfiguration.PEMSource) throws {
        switch source {
        case .file(let path):
            guard SSL_CTX_use_certificate_chain_file(self.context, path) == 1 else {
                throw TLSError(
                    .invalidConfiguration, OpenSSLErrors.message("cannot load the certificate chain \(path)"))
            }
        case .bytes(let bytes):
            let certificates = try PEM.certificates(bytes)
            guard let leaf = certificates.first else {
                throw TLSError(.invalidConfiguration, "the certificate chain holds no certificate")
            }
            defer { X509_free(leaf) }
            guard SSL_CTX_use_certificate(self.context, leaf) == 1 else {
                for extra in certificates.dropFirst() { X509_free(extra) }
                throw TLSError(.invalidConfiguration, OpenSSLErrors.message("cannot use the certificate"))
            }
            // The context takes ownership of each extra chain certificate.
            for extra in certificates.dropFirst() where CTLS_SSL_CTX_add_extra_chain_cert(self.context, extra) != 1 {
                X509_free(extra)
                throw TLSError(.invalidConfiguration, OpenSSLErrors.message("cannot add a chain certificate"))
            }
        }
    }

    private func loadPrivateKey(_ source: TLSConfiguration.PEMSource) throws {
        switch source {
        case .file(let path):
            guard SSL_CTX_use_PrivateKey_file(self.context, path, SSL_FILETYPE_PEM) == 1 else {
                throw TLSError(.invalidConfiguration, OpenSSLErrors.message("cannot load the private key \(path)"))
            }
        case .bytes(let bytes):
            let key = try PEM.privateKey(bytes)
            defer { EVP_PKEY_free(key) }
            guard SSL_CTX_use_PrivateKey(self.context, key) == 1 else {
                throw TLSError(.invalidConfiguration, OpenSSLErrors.message("cannot use the private key"))
            }
        }
    }

    private func configureVerification() throws {
        var mode = SSL_VERIFY_NONE
        switch self.configuration.role {
        case .client:
            if self.configuration.verification != .none { mode = SSL_VERIFY_PEER }
        case .server:
            switch self.configuration.clientCertificates {
            case .none: mode = SSL_VERIFY_NONE
            case .optional: mode = SSL_VERIFY_PEER
            case .required: mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
            }
        }
        SSL_CTX_set_verify(self.context, mode, nil)
    }

    private func configureALPN() throws {
        guard !self.alpnWire.bytes.isEmpty else { return }
        switch self.configuration.role {
        case .client:
            // SSL_CTX_set_alpn_protos returns 0 on success.
            guard SSL_CTX_set_alpn_protos(self.context, self.alpnWire.bytes, UInt32(self.alpnWire.bytes.count)) == 0
            else {
                throw TLSError(.invalidConfiguration, OpenSSLErrors.message("cannot set ALPN protocols"))
            }
        case .server:
            // SAFETY: the callback's argument is this context's ALPNWire, alive as long as the SSL_CTX.
            let argument = Unmanaged.passUnretained(self.alpnWire).toOpaque()
            SSL_CTX_set_alpn_select_cb(
                self.context,
                { _, out, outLength, offered, offeredLength, argument in
                    guard let argument, let out, let outLength, let offered else { return SSL_TLSEXT_ERR_NOACK }
                    let wire = Unmanaged<TLSContext.ALPNWire>.fromOpaque(argument).takeUnretainedValue()
                    return wire.bytes.withUnsafeBufferPointer { ours -> Int32 in
                        var selected: UnsafeMutablePointer<UInt8>?
                        var selectedLength: UInt8 = 0
                        let result = SSL_select_next_proto(
                            &selected, &selectedLength, ours.baseAddress, UInt32(ours.count), offered, offeredLength)
                        guard result == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_NOACK }
                        // `selected` points into `offered`, which outlives the callback.
                        out.pointee = UnsafePointer(selected)
                        outLength.pointee = selectedLength
                        return SSL_TLSEXT_ERR_OK
                    }
                }, argument)
        }
    }
}

/// PEM parsing into OpenSSL objects; the caller frees what it gets.
enum PEM {
    static func certificates(_ bytes: [UInt8]) throws -> [OpaquePointer] {
        try bytes.withUnsafeBytes { raw in
            // SAFETY: the memory BIO reads `raw` in place and is freed (`defer` below) before the closure
            // returns, while the array holds the bytes.
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
                throw TLSError(.invalidConfiguration, "cannot read PEM data")
            }
            defer { BIO_free(bio) }
            var certificates: [OpaquePointer] = []
            while let certificate = PEM_read_bio_X509(bio, nil, nil, nil) {
                certificates.append(certificate)
            }
            OpenSSLErrors.clear() // the read that ends the loop queues "no start line"
            guard !certificates.isEmpty else {
                throw TLSError(.invalidConfiguration, "no certificate in the PEM data")
            }
            return certificates
        }
    }

    static func privateKey(_ bytes: [UInt8]) throws -> OpaquePointer {
        try bytes.withUnsafeBytes { raw in
            // SAFETY: the memory BIO reads `raw` in place and is freed (`defer` below) before the closure
            // returns, while the array holds the bytes.
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else {
                throw TLSError(.invalidConfiguration, "cannot read PEM data")
            }
            defer { BIO_free(bio) }
            guard let key = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
                throw TLSError(.invalidConfiguration, OpenSSLErrors.message("no private key in the PEM data"))
            }
            return key
        }
    }
}
