import Channels
import Codecs

/// The few functions of the system's libzstd (Debian's `libzstd1`, which dpkg itself needs, so
/// every Debian machine has it) this library uses, loaded at run time: building needs no zstd
/// headers, and a machine without the library gets `MemcacheError.invalidArgument` from
/// `MemcacheCompression.zstd(…)` rather than a program that does not start.
///
/// Thread-safe: the functions are; each call uses its own context.
struct Zstd: Sendable {
    private typealias CompressBound = @convention(c) (Int) -> Int
    private typealias Compress = @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeRawPointer?, Int, Int32) -> Int
    private typealias Decompress = @convention(c) (UnsafeMutableRawPointer?, Int, UnsafeRawPointer?, Int) -> Int
    private typealias FrameContentSize = @convention(c) (UnsafeRawPointer?, Int) -> UInt64
    private typealias IsError = @convention(c) (Int) -> UInt32
    private typealias ErrorName = @convention(c) (Int) -> UnsafePointer<CChar>?

    private let compressBound: CompressBound
    private let compressFunction: Compress
    private let decompressFunction: Decompress
    private let frameContentSize: FrameContentSize
    private let isError: IsError
    private let errorName: ErrorName

    /// Loaded once per process; nil when the library is missing.
    static let shared: Zstd? = {
        guard let library = SharedLibrary.load(["libzstd.so.1", "libzstd.so"]),
            let bound = library.function("ZSTD_compressBound", as: CompressBound.self),
            let compress = library.function("ZSTD_compress", as: Compress.self),
            let decompress = library.function("ZSTD_decompress", as: Decompress.self),
            let size = library.function("ZSTD_getFrameContentSize", as: FrameContentSize.self),
            let isError = library.function("ZSTD_isError", as: IsError.self),
            let errorName = library.function("ZSTD_getErrorName", as: ErrorName.self)
        else { return nil }
        return Zstd(
            compressBound: bound, compressFunction: compress, decompressFunction: decompress, frameContentSize: size,
            isError: isError, errorName: errorName)
    }()

    /// `bytes` as one zstd frame (its content size recorded), or nil when zstd fails.
    func compress(_ bytes: UnsafeRawBufferPointer, level: Int32) -> [UInt8]? {
        let capacity = self.compressBound(bytes.count)
        var written = 0
        let output = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            // SAFETY: zstd writes at most `capacity` bytes (the array's, from `compressBound`) and reads
            // `bytes.count`, during the call.
            let result = self.compressFunction(buffer.baseAddress, capacity, bytes.baseAddress, bytes.count, level)
            written = self.isError(result) != 0 ? -1 : result
            count = max(written, 0)
        }
        return written < 0 ? nil : output
    }

    /// The bytes of the zstd frame in `bytes`.
    /// - Throws: `MemcacheError.decompressionFailed` when they are not one frame that says
    ///   its size, say a size above `limit` (a bomb), or do not decompress to that size.
    func decompress(_ bytes: UnsafeRawBufferPointer, limit: Int) throws -> [UInt8] {
        // SAFETY: zstd reads at most `bytes.count` bytes, during the call.
        let size = self.frameContentSize(bytes.baseAddress, bytes.count)
        // ZSTD_CONTENTSIZE_UNKNOWN is -1, ZSTD_CONTENTSIZE_ERROR -2.
        guard size < UInt64.max - 1 else {
            throw MemcacheError(
                .decompressionFailed,
                size == UInt64.max ? "the zstd frame does not say its size" : "the bytes are not a zstd frame")
        }
        guard size <= UInt64(limit) else {
            throw MemcacheError(
                .decompressionFailed, "the value would decompress to \(size) bytes, over the limit of \(limit)")
        }
        var failure: String?
        let output = [UInt8](unsafeUninitializedCapacity: Int(size)) { buffer, count in
            // SAFETY: zstd writes at most `size` bytes (the array's capacity) and reads `bytes.count`, during
            // the call.
            let result = self.decompressFunction(buffer.baseAddress, Int(size), bytes.baseAddress, bytes.count)
            if self.isError(result) != 0 {
                failure = self.errorName(result).map { String(cString: $0) } ?? "zstd error \(result)"
                count = 0
            } else if result != Int(size) {
                failure = "the frame decompressed to \(result) bytes, not the \(size) it says"
                count = 0
            } else {
                count = result
            }
        }
        if let failure { throw MemcacheError(.decompressionFailed, failure) }
        return output
    }
}
