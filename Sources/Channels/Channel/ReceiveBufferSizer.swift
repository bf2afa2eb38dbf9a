/// Chooses the size of the next read: grows after reads that filled the buffer, shrinks
/// after a few small ones, so a busy connection reads in large chunks and an idle one keeps
/// little memory.
///
/// Loop-confined.
struct ReceiveBufferSizer {
    static let minimum = 1024
    static let maximum = 64 * 1024
    private(set) var size = 4096
    private var smallReads = 0

    mutating func record(bytesRead: Int) {
        if bytesRead >= self.size {
            self.size = min(self.size * 2, Self.maximum)
            self.smallReads = 0
        } else if bytesRead < self.size / 4 {
            self.smallReads += 1
            if self.smallReads >= 8 {
                self.size = max(self.size / 2, Self.minimum)
                self.smallReads = 0
            }
        } else {
            self.smallReads = 0
        }
    }
}
