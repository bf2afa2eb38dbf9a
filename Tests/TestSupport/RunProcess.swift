import Foundation

/// Runs a program to completion with `input` on its standard input; returns its standard
/// output. Throws when it cannot start or exits non-zero (with its standard error).
public func runProcess(_ executable: String, _ arguments: [String], input: String = "") throws -> String {
    ignoreBrokenPipes()
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    // Output is read on a helper thread so a large output cannot block the child.
    let output = LockedData()
    let reader = Thread { output.set(stdout.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    try stdin.fileHandleForWriting.write(contentsOf: Data(input.utf8))
    try stdin.fileHandleForWriting.close()
    process.waitUntilExit()
    while !output.isSet { usleep(1000) }
    guard process.terminationStatus == 0 else {
        let message = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        throw TestSupportError("\(executable) exited with \(process.terminationStatus): \(message)")
    }
    return String(decoding: output.data, as: UTF8.self)
}

/// The first of `candidates` that is an executable file.
public func findExecutable(_ candidates: [String]) -> String? {
    candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

private final class LockedData: @unchecked Sendable {
    // SAFETY: every access holds `lock`.
    private let lock = NSLock()
    private var value: Data?
    func set(_ data: Data) { self.lock.withLock { self.value = data } }
    var isSet: Bool { self.lock.withLock { self.value != nil } }
    var data: Data { self.lock.withLock { self.value ?? Data() } }
}
