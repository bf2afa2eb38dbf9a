// Codecs: protocol code that runs inside channel pipelines and never touches the kernel.
// The framing decoders and the memcache codec land here (see issue "Codecs").
