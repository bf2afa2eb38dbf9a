// 64 callers' GETs of 100-byte values through RESPClient against a redis-server, for the
// README's table beside redis-benchmark (bench.sh runs both against one server).
//   resp-bench PORT [callers] [seconds] [loops|tasks] [lease]
// `lease` sends through `withConnection` and the handler's async `send` (a lease per GET, as
// in the Pool article) instead of the client's `withConnectionOnLoop` callback.
import Channels
import Glibc
import RESPClient

let arguments = CommandLine.arguments
guard arguments.count >= 2, let port = Int(arguments[1]) else {
    print("usage: resp-bench PORT [callers] [seconds] [loops|tasks] [lease]")
    exit(2)
}
let callers = arguments.count > 2 ? Int(arguments[2]) ?? 64 : 64
let seconds = arguments.count > 3 ? Double(arguments[3]) ?? 5 : 5
let onLoops = arguments.count > 4 ? arguments[4] != "tasks" : true
let throughLeases = arguments.count > 5 && arguments[5] == "lease"

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    return user + system
}

let group = try EventLoopGroup(loopCount: 2)
let client = RESPClient(host: "127.0.0.1", port: port, group: group)
let keys = 10_000
let value = ByteBuffer(bytes: [UInt8](repeating: 0x78, count: 100))
for key in 0..<keys { try await client.set("key:\(key)", to: value) }

let done = LockedValue(0)
let errors = LockedValue(0)
let start = ContinuousClock.now
let cpuStart = cpuSeconds()
let end = start + .milliseconds(Int64(seconds * 1000))
try await withThrowingTaskGroup(of: Void.self) { tasks in
    for caller in 0..<callers {
        let work: @Sendable () async -> Void = {
            var count = 0
            var failed = 0
            var key = caller
            while ContinuousClock.now < end {
                for _ in 0..<64 {
                    key = (key &* 1_103_515_245 &+ 12345) & 0x7fff_ffff
                    do {
                        if throughLeases {
                            let command: RESPCommand = ["GET", "key:\(key % keys)"]
                            _ = try await client.connections.withConnection { try await $0.handler.send(command) }
                        } else {
                            _ = try await client.get("key:\(key % keys)")
                        }
                    } catch {
                        failed += 1
                    }
                    count += 1
                }
            }
            done.withLock { $0 += count }
            errors.withLock { $0 += failed }
        }
        if onLoops {
            tasks.addTask(executorPreference: group.loops[caller % group.loops.count]) { await work() }
        } else {
            tasks.addTask { await work() }
        }
    }
    try await tasks.waitForAll()
}
let elapsed = ContinuousClock.now - start
let cpu = cpuSeconds() - cpuStart
let operations = done.withLock { $0 }
let wall = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let mode = (onLoops ? "loops" : "tasks") + (throughLeases ? "+lease" : "")
let rate = Int(Double(operations) / wall)
let cpuPerGet = (cpu / Double(operations) * 1e6 * 100).rounded() / 100
let failed = errors.withLock { $0 }
print(
    #"{"mode":"\#(mode)","callers":\#(callers),"gets":\#(operations),"gets_per_second":\#(rate),"cpu_us_per_get":\#(cpuPerGet),"errors":\#(failed)}"#
)
await client.shutdown()
try await group.shutdownGracefully()
