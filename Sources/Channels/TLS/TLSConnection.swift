import CTLS

/// One TLS session: an OpenSSL `SSL` over a `TLSBufferBIO`. Ciphertext from the network goes
/// in with `feed` (and is let go with `finishInput`); ciphertext for the network comes out
/// of `takeOutput`; plaintext goes through `read` and `write`. No I/O of its own.
///
/// Loop-confined: owned by one `TLSHandler`.
final class TLSConnection {
    /// The outcome of a step that may need more input from the peer.
    enum Step {
        case complete
        case wantRead
        case failed(TLSError)
    }

    /// The outcome of a read.
    enum ReadResult {
        case data(ByteBuffer)
        case wantRead
        /// The peer sent close_notify.
        case closed
        case failed(TLSError)
    }

    private let ssl: OpaquePointer
    /// Must outlive `ssl`, whose BIOs point at it: freed after `deinit` has freed `ssl`.
    private let buffers = TLSBufferBIO()
    private let context: TLSContext
    /// Names this connection's entry in the client session cache (resumption).
    private var sessionSlot: TLSSessionSlot?
    /// Reused for every `SSL_read` once the pipeline has let go of the previous plaintext.
    private var readBuffer = ByteBuffer()
    private static let readSize = 16 * 1024

    /// - Parameter serverHostname: for clients, the name or IP address the certificate must
    ///   match (and the SNI name for names).
    init(context: TLSContext, serverHostname: String?) throws {
        OpenSSLErrors.clear()
        guard let ssl = SSL_new(context.context) else {
            throw TLSError(.invalidConfiguration, OpenSSLErrors.message("SSL_new failed"))
        }
        // Two BIOs over the same buffers, one for each direction: the SSL owns each outright.
        guard let incoming = self.buffers.makeBIO() else {
            SSL_free(ssl)
            throw TLSError(.invalidConfiguration, "cannot allocate a BIO")
        }
        guard let outgoing = self.buffers.makeBIO() else {
            BIO_free(incoming)
            SSL_free(ssl)
            throw TLSError(.invalidConfiguration, "cannot allocate a BIO")
        }
        SSL_set_bio(ssl, incoming, outgoing)
        self.ssl = ssl
        self.context = context
        let configuration = context.configuration
        if configuration.role == .client {
            SSL_set_connect_state(ssl)
            try self.configureClient(serverHostname: serverHostname, configuration: configuration)
        } else {
            SSL_set_accept_state(ssl)
        }
    }

    deinit {
        SSL_free(self.ssl)
    }

    private func configureClient(serverHostname: String?, configuration: TLSConfiguration) throws {
        guard let name = serverHostname else {
            if configuration.verification == .full {
                throw TLSError(.invalidConfiguration, "full verification needs the server's host name or IP address")
            }
            return
        }
        if let cache = self.context.sessionCache {
            let slot = TLSSessionSlot(cache: cache, name: name)
            slot.attach(to: self.ssl)
            self.sessionSlot = slot
        }
        let isAddress = (try? SocketAddress(ipAddress: name, port: 0)) != nil
        if !isAddress {
            _ = CTLS_SSL_set_tlsext_host_name(self.ssl, name) // SNI is for names only
        }
        guard configuration.verification == .full else { return }
        let ok: Bool
        if isAddress {
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(self.ssl), name) == 1
        } else {
            ok = SSL_set1_host(self.ssl, name) == 1
        }
        if !ok {
            throw TLSError(.invalidConfiguration, OpenSSLErrors.message("cannot check the peer against '\(name)'"))
        }
    }

    /// Hands ciphertext from the network to OpenSSL, which reads it in place during the
    /// next `handshake` and `read` calls.
    func feed(_ ciphertext: ByteBuffer) {
        self.buffers.receive(ciphertext)
    }

    /// Lets go of the buffer last fed, keeping only what OpenSSL has not read yet.
    func finishInput() {
        self.buffers.finishInput()
    }

    /// Ciphertext waiting to be sent, if any.
    func takeOutput() -> ByteBuffer? {
        self.buffers.takeOutput()
    }

    func handshake() -> Step {
        OpenSSLErrors.clear()
        let result = SSL_do_handshake(self.ssl)
        if result == 1 { return .complete }
        switch SSL_get_error(self.ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantRead
        default:
            self.sessionSlot?.handshakeFailed()
            return .failed(self.handshakeFailure())
        }
    }

    func read() -> ReadResult {
        // Nothing to decrypt: no ciphertext waiting, none buffered inside OpenSSL. Asked
        // anyway (the read after a read's last record), `SSL_read` needed a buffer to write
        // into while the last one was usually still held up the pipeline: a new 16 KiB buffer
        // per read of records (0.07 allocations per get, `mcpool bench --tls`).
        if !self.buffers.hasInput, SSL_has_pending(self.ssl) == 0 { return .wantRead }
        OpenSSLErrors.clear()
        if self.readBuffer.isUniquelyOwned(), self.readBuffer.capacity >= Self.readSize {
            self.readBuffer.clear()
        } else {
            self.readBuffer = ByteBuffer(capacity: Self.readSize)
        }
        var code: Int32 = 0
        self.readBuffer.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.readSize) { space in
            // SAFETY: OpenSSL writes at most `space.count` bytes (`readSize`), during the call.
            let result = SSL_read(self.ssl, space.baseAddress, Int32(space.count))
            if result > 0 { return Int(result) }
            code = SSL_get_error(self.ssl, result)
            return 0
        }
        if self.readBuffer.readableBytes > 0 { return .data(self.readBuffer) }
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return .wantRead
        case SSL_ERROR_ZERO_RETURN: return .closed
        default:
            // A certificate rejected late (TLS 1.3 client certificates) surfaces here.
            if SSL_get_verify_result(self.ssl) != Int(X509_V_OK) || !SSL_is_init_finished(self.ssl).isTrue {
                return .failed(self.handshakeFailure())
            }
            return .failed(TLSError(.recordFailed, OpenSSLErrors.message("SSL_read failed (\(code))")))
        }
    }

    /// The most plaintext encrypted before its ciphertext is handed on: a large write leaves
    /// in pieces, so the peer decrypts one while we encrypt the next, and each piece is still
    /// in cache when the socket copies it (32, 128 and 256 KiB measured no better).
    static let writeChunk = 64 * 1024
    /// Header, tag and content type of a TLS 1.3 record (TLS 1.2 CBC records need more, and
    /// still fit: the output buffer grows when a guess is short).
    private static let recordOverhead = 5 + 16 + 1 + 64

    /// Encrypts all of `plaintext`, handing the ciphertext to `emit` piece by piece as it is
    /// made (the last piece after the last byte is encrypted).
    func write(_ plaintext: ByteBuffer, emit: (ByteBuffer) -> Void) -> TLSError? {
        OpenSSLErrors.clear()
        return plaintext.withUnsafeReadableBytes { bytes -> TLSError? in
            // SAFETY: `base + offset` below stays inside `bytes` (`offset` < `bytes.count`), and each
            // `SSL_write` reads at most `piece` <= `bytes.count - offset` bytes, during the call.
            guard let base = bytes.baseAddress else { return nil }
            var offset = 0
            while offset < bytes.count {
                // Room for the records of this piece (16 KiB each, plus their overhead).
                let piece = min(bytes.count - offset, Self.writeChunk)
                self.buffers.reserveOutput(piece + (piece / 16_384 + 1) * Self.recordOverhead)
                let result = SSL_write(self.ssl, base + offset, Int32(piece))
                guard result > 0 else {
                    return TLSError(
                        .recordFailed, OpenSSLErrors.message("SSL_write failed (\(SSL_get_error(self.ssl, result)))"))
                }
                offset += Int(result)
                if offset < bytes.count, let ciphertext = self.takeOutput() { emit(ciphertext) }
            }
            return nil
        }
    }

    /// Queues our close_notify.
    func shutdown() {
        OpenSSLErrors.clear()
        _ = SSL_shutdown(self.ssl)
        OpenSSLErrors.clear()
    }

    /// Whether the handshake resumed an earlier session.
    var isSessionReused: Bool { SSL_session_reused(self.ssl) == 1 }

    /// The cipher suite in use, by its standard name, once the handshake completed.
    var cipherSuite: String? {
        guard let cipher = SSL_get_current_cipher(self.ssl), let name = SSL_CIPHER_standard_name(cipher) else {
            return nil
        }
        return String(cString: name)
    }

    var negotiatedALPN: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        SSL_get0_alpn_selected(self.ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The most specific reason a handshake failed: certificate verification first, then
    /// OpenSSL's error queue (alerts, versions, ciphers).
    private func handshakeFailure() -> TLSError {
        let verify = SSL_get_verify_result(self.ssl)
        let queued = OpenSSLErrors.message("the handshake failed")
        guard verify != Int(X509_V_OK) else {
            return TLSError(.handshakeFailed, queued)
        }
        let reason = String(cString: X509_verify_cert_error_string(verify))
        switch Int32(verify) {
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
            return TLSError(.hostnameMismatch, reason)
        case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID:
            return TLSError(.certificateExpired, reason)
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_CERT_UNTRUSTED:
            return TLSError(.untrustedCertificate, reason)
        default:
            return TLSError(.certificateRejected, reason)
        }
    }
}

extension Int32 {
    fileprivate var isTrue: Bool { self != 0 }
}
