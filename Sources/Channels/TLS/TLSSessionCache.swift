import CTLS

/// The client's TLS sessions by server name, so that a new connection to a server resumes the
/// last session with it (a TLS 1.3 ticket or a TLS 1.2 session) instead of a full handshake.
///
/// Thread-safe (a lock): one `TLSContext` serves connections on every loop. Holds at most
/// one session per name, and at most `capacity` names.
final class TLSSessionCache: Sendable {
    private let sessions = LockedValue<[String: TLSSession]>([:])
    static let capacity = 1024

    func session(for name: String) -> TLSSession? {
        self.sessions.withLock { $0[name] }
    }

    /// Forgets the session of `name` if it is still `session` (a handshake that offered it failed).
    func forget(_ session: TLSSession, for name: String) {
        self.sessions.withLock { sessions in
            if sessions[name] === session { sessions[name] = nil }
        }
    }

    func store(_ session: TLSSession, for name: String) {
        self.sessions.withLock { sessions in
            if sessions.count >= Self.capacity, sessions[name] == nil, let any = sessions.keys.first {
                sessions[any] = nil
            }
            sessions[name] = session
        }
    }

    /// Installs the callback through which OpenSSL hands the client its new sessions. Each
    /// connection names its cache entry with `TLSSessionSlot.attach`.
    static func enable(on context: OpaquePointer) {
        // Client caching, but not in OpenSSL's internal store: the callback keeps them here.
        _ = CTLS_SSL_CTX_set_session_cache_mode(context, Int(SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE))
        SSL_CTX_sess_set_new_cb(context) { ssl, session in
            guard let ssl, let session, let slot = TLSSessionSlot.attached(to: ssl) else { return 0 }
            // Returning 1 keeps the reference OpenSSL passed us; TLSSession frees it.
            slot.cache.store(TLSSession(takingOwnership: session), for: slot.name)
            return 1
        }
    }
}

/// One reference to an OpenSSL `SSL_SESSION`, freed when the last user lets go.
///
/// Thread-safe: a session is immutable once made, and OpenSSL reference-counts it.
// SAFETY: SSL_SESSION is immutable after the handshake; refcounted by OpenSSL
final class TLSSession: @unchecked Sendable { // SAFETY: see above
    let pointer: OpaquePointer

    init(takingOwnership pointer: OpaquePointer) {
        self.pointer = pointer
    }

    deinit {
        SSL_SESSION_free(self.pointer)
    }
}

/// What a client connection tells the new-session callback: which cache, under which name.
///
/// Loop-confined: owned by one `TLSConnection`, which outlives its `SSL`'s callbacks.
final class TLSSessionSlot {
    let cache: TLSSessionCache
    let name: String
    /// The session offered to the server, if any.
    private(set) var offered: TLSSession?

    init(cache: TLSSessionCache, name: String) {
        self.cache = cache
        self.name = name
    }

    /// Points `ssl`'s application data at this slot and offers the cached session, if any.
    /// The caller keeps the slot alive for as long as `ssl` lives.
    func attach(to ssl: OpaquePointer) {
        // SAFETY: unretained; TLSConnection owns the slot and frees the SSL first (in deinit).
        _ = SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
        if let session = self.cache.session(for: self.name), SSL_set_session(ssl, session.pointer) == 1 {
            self.offered = session // SSL_set_session took its own reference too
        }
    }

    /// The handshake failed: a server that refused the offered session must get a full
    /// handshake next time, not the same refusal.
    func handshakeFailed() {
        if let offered = self.offered { self.cache.forget(offered, for: self.name) }
    }

    static func attached(to ssl: OpaquePointer) -> TLSSessionSlot? {
        guard let raw = SSL_get_ex_data(ssl, 0) else { return nil }
        // SAFETY: attached by `attach`, unretained, to an SSL its `TLSConnection` frees before
        // the slot (see there): the slot is alive while OpenSSL can call back with this SSL.
        return Unmanaged<TLSSessionSlot>.fromOpaque(raw).takeUnretainedValue()
    }
}
