// The client's reply decoder fed arbitrary bytes as a server's replies, cut at arbitrary
// points: no crash, no unbounded buffering, and the cuts never change what it decodes.
import Codecs
import FuzzSupport

runLibFuzzer { start, count in
    checkCutsDoNotMatter(start, count) { MemcacheResponseDecoder(maximumLineLength: 1024, maximumValueLength: 1 << 16) }
}
