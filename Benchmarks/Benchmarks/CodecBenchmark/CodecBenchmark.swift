import Benchmark
import Channels
import Codecs

// Codec costs without sockets: one iteration decodes (or encodes) 1,000 messages, so
// throughput x 1,000 is messages/s and mallocs / 1,000 is allocations per message. Plus
// pipelined gets against a real memcached (if installed), meta `mg` vs text `get`.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.throughput, .wallClock, .mallocCountTotal],
        timeUnits: .microseconds,
        warmupIterations: 10,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )

    for size in [100, 4096] {
        let meta = recordedStream(count: 1000, size: size) { _ in "VA \(size) f0\r\n" }
        let text = recordedStream(count: 1000, size: size, trailer: "END\r\n") { "VALUE key-\($0) 0 \(size)\r\n" }
        Benchmark("Decode 1000 mg replies, \(size) B values (\(meta.readableBytes / 1000) B each)") { _ in
            decodeAll(meta, expecting: 1000)
        }
        Benchmark("Decode 1000 get replies, \(size) B values (\(text.readableBytes / 1000) B each)") { _ in
            decodeAll(text, expecting: 1000)
        }
    }

    let keys = (0..<1000).compactMap { try? MemcacheKey("key-\($0)") }
    let value = ByteBuffer(bytes: [UInt8](repeating: 0x61, count: 100))
    Benchmark("Encode 1000 mg requests") { _ in
        var buffer = ByteBuffer(capacity: 64 * 1024)
        let encoder = MemcacheRequestEncoder()
        for key in keys { try? encoder.encode(.meta(.get(key, flags: [.returnValue, .returnFlags])), into: &buffer) }
        blackHole(buffer)
    }
    Benchmark("Encode 1000 ms requests, 100 B values") { _ in
        var buffer = ByteBuffer(capacity: 256 * 1024)
        let encoder = MemcacheRequestEncoder()
        for key in keys { try? encoder.encode(.meta(.set(key, value: value)), into: &buffer) }
        blackHole(buffer)
    }

    registerPipelinedGets(keys: Array(keys.prefix(100)), value: value)
}

/// `count` replies of `size`-byte values, each with its header line and optional trailer.
func recordedStream(count: Int, size: Int, trailer: String = "", header: (Int) -> String) -> ByteBuffer {
    let value = [UInt8](repeating: 0x62, count: size)
    var buffer = ByteBuffer()
    for index in 0..<count {
        buffer.writeString(header(index))
        buffer.writeBytes(value)
        buffer.writeString("\r\n")
        buffer.writeString(trailer)
    }
    return buffer
}

func decodeAll(_ stream: ByteBuffer, expecting count: Int) {
    var input = stream
    var decoder = MemcacheResponseDecoder()
    var decoded = 0
    while let response = try? decoder.decode(buffer: &input) {
        blackHole(response)
        decoded += 1
    }
    precondition(decoded == count, "decoded \(decoded) of \(count)")
}
