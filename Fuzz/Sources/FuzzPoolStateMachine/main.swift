// A loop's pool state machine driven by the fuzzer: its bytes choose the limits and every
// event (leases, releases clean and dirty, cancels, time, connect outcomes and refusals,
// deaths, yields, handoffs), and the model run (LoopPoolMachineModel.swift, linked from the
// tests, where it runs on seeded choices) checks the machine's books after each one and that
// the wind-down answers every caller once and leaves nothing open.
import FuzzSupport

runLibFuzzer { start, count in
    guard let start, count > 0 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: start, count: count))
    var run = LoopPoolMachineModelRun(choices: ByteChoices(bytes: input[...]), label: "fuzz input") { violation in
        fatalError(violation)
    }
    run.run(steps: 4096) { $0.isExhausted }
    return 0
}
