import Testing

/// The model run (`LoopPoolMachineModel.swift`) over 300 seeded sequences of 600 events; the
/// fuzz harness FuzzPoolStateMachine runs the same model on the fuzzer's choices.
@Suite struct LoopPoolMachineModelTests {
    @Test(
        "random event sequences keep counts exact, caps held, every waiter served, failed or waiting within its deadline, nothing leaked"
    )
    func randomSequences() {
        for seed in 1...300 {
            var run = LoopPoolMachineModelRun(choices: SeededChoices(state: UInt64(seed)), label: "seed \(seed)") {
                Issue.record(Comment(rawValue: $0))
            }
            run.run(steps: 600)
        }
    }
}
