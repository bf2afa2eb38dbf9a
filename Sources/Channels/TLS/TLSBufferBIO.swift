import CTLS

/// Carries ciphertext between OpenSSL and the pipeline without memory BIOs: OpenSSL reads
/// records straight out of the buffers the socket filled, and writes them straight into the
/// buffer that goes to the socket. A memory BIO copies every byte once more each way and
/// zeroes its storage as it grows (the bulk benchmark: 680 MiB/s with memory BIOs, 735
/// without).
///
/// Loop-confined: owned by one `TLSConnection`, called by OpenSSL only inside that
/// connection's `SSL_*` calls.
final class TLSBufferBIO {
    /// Ciphertext received, in two parts: what an earlier read left over (a partial record,
    /// copied so that the socket's read buffer can be reused), then the latest read, which
    /// OpenSSL consumes in place.
    private var carried = ByteBuffer()
    private var latest = ByteBuffer()
    /// Ciphertext OpenSSL made that has not been taken yet.
    private var output = ByteBuffer()
    /// The last output taken, when small: reused for the next flush's records once the
    /// socket has let go of it (a new buffer per flush was one allocation per loop turn of a
    /// pooled connection). Larger ones (a bulk write's pieces) are not kept.
    private var spareOutput = ByteBuffer()
    private static let keptOutputCapacity = 16 * 1024

    /// Hands ciphertext from the network to OpenSSL. Call `finishInput` once OpenSSL has
    /// read what it can.
    func receive(_ ciphertext: ByteBuffer) {
        self.carryLatest()
        self.latest = ciphertext
    }

    /// Whether ciphertext received is waiting for OpenSSL to read it.
    var hasInput: Bool { self.carried.readableBytes > 0 || self.latest.readableBytes > 0 }

    /// Lets go of the latest read, copying what OpenSSL did not read yet (at most the start
    /// of one record).
    func finishInput() {
        self.carryLatest()
    }

    private func carryLatest() {
        guard self.latest.readableBytes > 0 else {
            self.latest = ByteBuffer()
            return
        }
        if self.carried.readableBytes == 0, self.carried.capacity > 0 { self.carried.clear() }
        self.carried.writeBuffer(&self.latest)
        self.latest = ByteBuffer()
    }

    /// Makes room for `bytes` more ciphertext, so that encrypting a large write does not
    /// grow the output buffer by doubling.
    func reserveOutput(_ bytes: Int) {
        if self.output.capacity == 0, self.spareOutput.capacity >= bytes, self.spareOutput.isUniquelyOwned() {
            swap(&self.output, &self.spareOutput)
            self.output.clear()
        }
        self.output.reserveCapacity(minimumWritableBytes: bytes)
    }

    /// The ciphertext made since the last call, if any.
    func takeOutput() -> ByteBuffer? {
        guard self.output.readableBytes > 0 else { return nil }
        var taken = ByteBuffer()
        swap(&taken, &self.output)
        // Shared with the socket until it has written it (it only reads it); unique again
        // by the next flush, as a rule.
        self.spareOutput = taken.capacity <= Self.keptOutputCapacity ? taken : ByteBuffer()
        return taken
    }

    /// A new BIO over this object's buffers. The SSL that takes it frees it; this object must
    /// outlive that SSL.
    func makeBIO() -> OpaquePointer? {
        guard let bio = BIO_new(Self.method) else { return nil }
        // SAFETY: unretained; `TLSConnection` holds this object and frees its SSL, and with
        // it the BIO, first (in `deinit`), so the BIO never outlives what it points at.
        BIO_set_data(bio, Unmanaged.passUnretained(self).toOpaque())
        BIO_set_init(bio, 1)
        return bio
    }

    // MARK: The BIO method

    private static func of(_ bio: OpaquePointer?) -> TLSBufferBIO? {
        guard let bio, let data = BIO_get_data(bio) else { return nil }
        // SAFETY: set by `makeBIO` to an object that outlives the BIO (see there).
        return Unmanaged<TLSBufferBIO>.fromOpaque(data).takeUnretainedValue()
    }

    /// Copies up to `count` bytes of input, the carried part first.
    private func read(into destination: UnsafeMutableRawPointer, count: Int) -> Int {
        let fromCarried = Self.move(from: &self.carried, to: destination, count: count)
        return fromCarried + Self.move(from: &self.latest, to: destination + fromCarried, count: count - fromCarried)
    }

    private static func move(from buffer: inout ByteBuffer, to destination: UnsafeMutableRawPointer, count: Int) -> Int
    {
        let moved = min(count, buffer.readableBytes)
        guard moved > 0 else { return 0 }
        // SAFETY: moved > 0
        buffer.withUnsafeReadableBytes { destination.copyMemory(from: $0.baseAddress!, byteCount: moved) }
        buffer.moveReaderIndex(forwardBy: moved)
        return moved
    }

    /// The BIO method, shared by every connection.
    // SAFETY: a `static let` is initialized once, under the runtime's lock; the method is
    // filled in inside that initializer and never changed after, and OpenSSL only reads it
    // (BIO_new), so sharing the pointer across threads races on nothing.
    nonisolated(unsafe) private static let method: OpaquePointer? = { // SAFETY: above
        guard let method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "swift-channels buffer") else {
            return nil
        }
        BIO_meth_set_write(method) { bio, data, length in
            guard let buffers = TLSBufferBIO.of(bio), let data, length > 0 else { return 0 }
            CTLS_BIO_clear_retry_flags(bio)
            return Int32(buffers.output.writeBytes(UnsafeRawBufferPointer(start: data, count: Int(length))))
        }
        BIO_meth_set_read(method) { bio, destination, length in
            guard let buffers = TLSBufferBIO.of(bio), let destination, length > 0 else { return 0 }
            CTLS_BIO_clear_retry_flags(bio)
            let copied = buffers.read(into: destination, count: Int(length))
            if copied == 0 {
                // Nothing yet, which is not the end of the stream: ask OpenSSL to come back.
                CTLS_BIO_set_retry_read(bio)
                return -1
            }
            return Int32(copied)
        }
        BIO_meth_set_ctrl(method) { bio, command, _, _ in
            switch command {
            case BIO_CTRL_FLUSH:
                return 1 // written bytes are already in the output buffer
            case BIO_CTRL_PENDING:
                guard let buffers = TLSBufferBIO.of(bio) else { return 0 }
                return buffers.carried.readableBytes + buffers.latest.readableBytes
            case BIO_CTRL_WPENDING:
                return TLSBufferBIO.of(bio)?.output.readableBytes ?? 0
            default:
                return 0 // not supported (kTLS, push/pop, ...): OpenSSL reads 0 as "no"
            }
        }
        BIO_meth_set_destroy(method) { bio in
            guard let bio else { return 0 }
            BIO_set_data(bio, nil)
            BIO_set_init(bio, 0)
            return 1
        }
        return method
    }()
}
