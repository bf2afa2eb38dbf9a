// Issue 23 asks for CPU per get at 4,096 callers within 1.3x of that at 64. This measures the
// part of that growth that belongs to Swift's tasks alone, with no sockets and no pool: N tasks
// take turns on the event loops the way the pool's callers do. Each task waits on a
// continuation (a caller waiting for its get); each loop resumes its 32 longest-waiting tasks
// per turn (a read's replies resuming their callers, first come first served); a resumed task
// at once waits again. So every task runs once per rotation of N / loops tasks, as every
// caller does at N callers, and what a resumption costs as N grows is the runtime's floor
// under the pool's figure.
//
// A pooled get touches more of its task than this loop does (the frames of the caller, of `get`
// and of what it calls, all in the task's own allocator: 640 + 432 + 320 + 32 bytes a get at
// stop 60), so each task can also keep a frame of `frame` bytes across its waits and write one
// word of every 64-byte line of it per turn. And a pool's replies do not come back in the order
// the tasks were made (nor in address order, which the CPU's prefetchers follow), so the order
// can be `shuffled`: each resumption picks a waiting task at random.
//
// Usage: TaskRotationFloor [seconds per size, default 3] [rounds, default 3] [sizes, default
// 64,512,4096,16384] [frame bytes: 0, 512, 1024, 2048 or 4096, default 0] [fifo | shuffled,
// default fifo]. Sizes alternate within each round; each size's line is its median round.
import Channels
import Glibc

let arguments = CommandLine.arguments
let seconds = arguments.count > 1 ? Double(arguments[1]) ?? 3 : 3
let rounds = arguments.count > 2 ? Int(arguments[2]) ?? 3 : 3
let sizes = arguments.count > 3 ? arguments[3].split(separator: ",").compactMap { Int($0) } : [64, 512, 4096, 16384]
let frameBytes = arguments.count > 4 ? Int(arguments[4]) ?? 0 : 0
let order = arguments.count > 5 ? arguments[5] : "fifo"
guard [0, 512, 1024, 2048, 4096].contains(frameBytes), ["fifo", "shuffled"].contains(order), !sizes.isEmpty else {
    print("usage: TaskRotationFloor [seconds] [rounds] [sizes,...] [0|512|1024|2048|4096] [fifo|shuffled]")
    exit(2)
}
let shuffled = order == "shuffled"
let loopCount = 2
let batch = 32

/// One loop's waiting tasks and its resumer. Touched only on `loop`: its tasks prefer the loop
/// as their executor (so `wait` appends there) and `resumeTurn` runs there.
final class Rotation: @unchecked Sendable {
    let loop: SelectableEventLoop
    /// A first-in, first-out queue: the waiting continuations from `head` on.
    private var waiting: [UnsafeContinuation<Bool, Never>] = []
    private var head = 0
    private var running = true
    private(set) var resumed = 0
    private var random: UInt64 = 0x9E37_79B9_7F4A_7C15

    init(loop: SelectableEventLoop) {
        self.loop = loop
    }

    /// Waits for this task's turn; false once the run is over.
    @inline(never)
    func wait() async -> Bool {
        await withUnsafeContinuation { continuation in
            if self.running {
                self.waiting.append(continuation)
            } else {
                continuation.resume(returning: false)
            }
        }
    }

    /// Resumes the `batch` longest-waiting tasks, then comes back after the jobs they queued.
    func resumeTurn() {
        let end = min(self.head + batch, self.waiting.count)
        while self.head < end {
            if shuffled {
                // The next one from anywhere in the queue (xorshift), not the longest-waiting.
                self.random ^= self.random << 13
                self.random ^= self.random >> 7
                self.random ^= self.random << 17
                let pick = self.head + Int(self.random % UInt64(self.waiting.count - self.head))
                self.waiting.swapAt(self.head, pick)
            }
            self.waiting[self.head].resume(returning: self.running)
            self.head += 1
            self.resumed += 1
        }
        if self.head >= 4_096, self.head * 2 >= self.waiting.count {
            self.waiting.removeFirst(self.head)
            self.head = 0
        }
        if self.running {
            self.loop.execute { self.resumeTurn() }
        } else {
            while self.head < self.waiting.count {
                self.waiting[self.head].resume(returning: false)
                self.head += 1
            }
            self.waiting.removeAll()
            self.head = 0
        }
    }

    func stop() {
        self.running = false
    }
}

/// Waits for turns with `words` words kept in the task's frame, writing one word of every line
/// of them per turn (as a caller's frames are written by each get).
@inline(never)
func takeTurns<let words: Int>(_ rotation: Rotation, frame _: InlineArray<words, UInt64>.Type) async {
    var frame = InlineArray<words, UInt64>(repeating: 0)
    while await rotation.wait() {
        var index = 0
        while index < words {
            frame[index] &+= 1
            index += 8
        }
    }
    if frame[0] == .max { print("unreachable: keeps the frame alive") }
}

func cpuSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func resumedSoFar(_ rotations: [Rotation]) async throws -> Int {
    var total = 0
    for rotation in rotations {
        total += try await rotation.loop.submit { rotation.resumed }.get()
    }
    return total
}

/// One run of `size` tasks: CPU microseconds per resumption over `seconds` after a warm-up.
func measure(size: Int, group: EventLoopGroup) async throws -> (perSecond: Double, cpuMicroseconds: Double) {
    let rotations = group.loops.map { Rotation(loop: $0) }
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        for index in 0..<size {
            let rotation = rotations[index % rotations.count]
            tasks.addTask(executorPreference: rotation.loop) {
                switch frameBytes {
                case 512: await takeTurns(rotation, frame: InlineArray<64, UInt64>.self)
                case 1024: await takeTurns(rotation, frame: InlineArray<128, UInt64>.self)
                case 2048: await takeTurns(rotation, frame: InlineArray<256, UInt64>.self)
                case 4096: await takeTurns(rotation, frame: InlineArray<512, UInt64>.self)
                default: while await rotation.wait() {}
                }
            }
        }
        for rotation in rotations {
            rotation.loop.execute { rotation.resumeTurn() }
        }
        try await Task.sleep(for: .milliseconds(500))
        let resumedBefore = try await resumedSoFar(rotations)
        let cpuBefore = cpuSeconds()
        let clockBefore = ContinuousClock.now
        try await Task.sleep(for: .seconds(seconds))
        let resumedAfter = try await resumedSoFar(rotations)
        let cpuAfter = cpuSeconds()
        let elapsed = ContinuousClock.now - clockBefore
        for rotation in rotations {
            rotation.loop.execute { rotation.stop() }
        }
        try await tasks.waitForAll()
        let count = Double(resumedAfter - resumedBefore)
        let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (count / wall, (cpuAfter - cpuBefore) * 1e6 / count)
    }
}

let group = try EventLoopGroup(loopCount: loopCount)
var results: [Int: [(perSecond: Double, cpuMicroseconds: Double)]] = [:]
for _ in 0..<rounds {
    for size in sizes {
        results[size, default: []].append(try await measure(size: size, group: group))
    }
}
try await group.shutdownGracefully()

print(
    "TaskRotationFloor: \(loopCount) loops, \(batch) resumed per turn, \(rounds) rounds of \(seconds) s,",
    "\(frameBytes)-byte frames, \(order)")
print("| tasks | resumptions/s | CPU µs per resumption (rounds) | median / first size's |")
print("| ---: | ---: | --- | ---: |")
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
/// `value` with `digits` decimals (no Foundation here).
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = Int((value * scale).rounded())
    let fraction = String(scaled % Int(scale))
    return "\(scaled / Int(scale)).\(String(repeating: "0", count: digits - fraction.count))\(fraction)"
}
let base = median(results[sizes[0]]!.map(\.cpuMicroseconds))
for size in sizes {
    let runs = results[size]!
    let cpu = median(runs.map(\.cpuMicroseconds))
    let perSecond = median(runs.map(\.perSecond))
    let each = runs.map { fixed($0.cpuMicroseconds, 3) }.joined(separator: " / ")
    print("| \(size) | \(Int(perSecond)) | \(each) | \(fixed(cpu / base, 2))× |")
}
