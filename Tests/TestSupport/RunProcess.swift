import Foundation
public import Glibc

/// Runs a program to completion with `input` on its standard input and returns its standard
/// output; throws when it cannot start or exits non-zero (with its standard error).
///
/// The waiting happens on a thread of its own, never on the concurrency pool: a blocked pool
/// thread plus Foundation `Process` (whose exit detection needs a dispatch thread) can
/// deadlock the whole test run. Spawning and waiting use posix_spawn and waitpid directly.
public func runProcess(_ executable: String, _ arguments: [String], input: String = "") async throws -> String {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try runProcessBlocking(executable, arguments, input: input) }) }
            .start()
    }
}

/// The first of `candidates` that is an executable file.
public func findExecutable(_ candidates: [String]) -> String? {
    candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

private func runProcessBlocking(_ executable: String, _ arguments: [String], input: String) throws -> String {
    ignoreBrokenPipes()
    var stdinPipe: [Int32] = [0, 0]
    var stdoutPipe: [Int32] = [0, 0]
    var stderrPipe: [Int32] = [0, 0]
    // Close-on-exec: another test spawning a process meanwhile must not inherit these ends.
    // An inherited write end of a child's stdin means that child never sees EOF (two
    // parallel ketama references once waited on each other that way, forever).
    // (Glibc's module has no pipe2: the flag is set right after, and the window that leaves is
    // closed by `closeInheritedDescriptors` in every spawn of this test support.)
    guard pipe(&stdinPipe) == 0, pipe(&stdoutPipe) == 0, pipe(&stderrPipe) == 0 else {
        throw TestSupportError("pipe failed: errno \(errno)")
    }
    for fd in stdinPipe + stdoutPipe + stderrPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
    posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)
    for fd in stdinPipe + stdoutPipe + stderrPipe { posix_spawn_file_actions_addclose(&actions, fd) }
    closeInheritedDescriptors(&actions)
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid = pid_t()
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
    close(stdinPipe[0])
    close(stdoutPipe[1])
    close(stderrPipe[1])
    guard spawned == 0 else {
        close(stdinPipe[1])
        close(stdoutPipe[0])
        close(stderrPipe[0])
        throw TestSupportError("cannot start \(executable): errno \(spawned)")
    }
    // Both outputs are drained while the input is written, so no pipe can fill up and stall.
    let output = PipeReader(fd: stdoutPipe[0])
    let errors = PipeReader(fd: stderrPipe[0])
    let bytes = Array(input.utf8)
    var written = 0
    while written < bytes.count {
        let count = bytes[written...].withUnsafeBytes { write(stdinPipe[1], $0.baseAddress, $0.count) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break } // the program stopped reading (EPIPE): its exit status tells
        written += count
    }
    close(stdinPipe[1])
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let stdout = output.finish()
    let stderr = errors.finish()
    let exited = (status & 0x7f) == 0
    let code = (status >> 8) & 0xff
    guard exited && code == 0 else {
        throw TestSupportError("\(executable) ended with status \(status): \(String(decoding: stderr, as: UTF8.self))")
    }
    return String(decoding: stdout, as: UTF8.self)
}

/// Reads a pipe to EOF on a thread of its own.
private final class PipeReader: @unchecked Sendable {
    // SAFETY: `bytes` and `done` are only touched under `lock`.
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var done = false

    init(fd: Int32) {
        Thread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                self.lock.withLock { self.bytes += buffer[0..<count] }
            }
            close(fd)
            self.lock.withLock { self.done = true }
        }.start()
    }

    /// Everything read, once the writer side closed.
    func finish() -> [UInt8] {
        while !self.lock.withLock({ self.done }) { usleep(1000) }
        return self.lock.withLock { self.bytes }
    }
}

/// A child process started with posix_spawn, its output discarded. Foundation's `Process`
/// is avoided: its `run()` reads /proc/self/fd with a buffer overrun that AddressSanitizer
/// aborts on when the test process holds many descriptors.
public final class SpawnedProcess: @unchecked Sendable {
    // SAFETY: `status` is only touched under `lock`.
    public let pid: pid_t
    private let standardOutput: String?
    private let standardError: String?
    private let lock = NSLock()
    /// waitpid's status once reaped.
    private var status: Int32?

    /// Starts `executable`; its standard output and error go to the files `standardOutput` and
    /// `standardError` when given (read them with `output` and `errorOutput`), else nowhere.
    public init(
        _ executable: String, _ arguments: [String], standardOutput: String? = nil, standardError: String? = nil
    ) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(
            &actions, 1, standardOutput ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, standardError ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        closeInheritedDescriptors(&actions)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid = pid_t()
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestSupportError("cannot start \(executable): errno \(spawned)") }
        self.pid = pid
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    /// What it wrote to its standard output so far (when started with a file for it).
    public var output: String { Self.contents(of: self.standardOutput) }

    /// What it wrote to its standard error so far (when started with a file for it).
    public var errorOutput: String { Self.contents(of: self.standardError) }

    /// The file's bytes, read with plain read(2): Foundation's `FileManager.contents(atPath:)`
    /// leaked its buffer (LeakSanitizer, in CI) when the file grew while it read, which is
    /// what polling a running child's output does.
    private static func contents(of path: String?) -> String {
        guard let path else { return "" }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Its exit status once it has exited normally (nil while running, or when a signal
    /// ended it).
    public var exitCode: Int32? {
        self.lock.withLock {
            guard let status = self.status, status & 0x7f == 0 else { return nil }
            return (status >> 8) & 0xff
        }
    }

    /// Sends `signal` (SIGTERM, SIGINT, …) unless it has exited.
    public func send(_ signal: Int32) {
        self.lock.withLock {
            guard self.status == nil else { return }
            _ = Glibc.kill(self.pid, signal)
        }
    }

    /// Whether it has not exited yet (reaps it when it has).
    public var isRunning: Bool {
        self.lock.withLock {
            guard self.status == nil else { return false }
            var status: Int32 = 0
            if waitpid(self.pid, &status, WNOHANG) == self.pid { self.status = status }
            return self.status == nil
        }
    }

    /// Kills it (SIGKILL) and waits for it.
    public func kill() {
        self.lock.withLock {
            guard self.status == nil else { return }
            _ = Glibc.kill(self.pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(self.pid, &status, 0) < 0 && errno == EINTR {}
            self.status = status
        }
    }
}
