// The server's request decoder fed arbitrary bytes as a client's requests, cut at arbitrary
// points: no crash, and the cuts never change what it decodes.
import Codecs
import FuzzSupport

runLibFuzzer { start, count in
    checkCutsDoNotMatter(start, count) { MemcacheRequestDecoder(maximumLineLength: 1024, maximumValueLength: 1 << 16) }
}
