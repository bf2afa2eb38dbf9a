import Channels
import Glibc

/// A Python virtual environment under the repository's `.build-pyvenv/` with `packages`
/// installed (from PyPI, once); returns its interpreter. For tests that drive our servers
/// with clients no one here wrote. `modules` names what to import when a package's module
/// is not named like it (Pillow's is `PIL`).
///
/// One call at a time: tests run at once, and one making the environment while another
/// already saw its interpreter and ran pip in it failed in CI ("No module named pip").
public func pythonWithPackages(_ packages: [String], modules: [String]? = nil) async throws -> String {
    try await pythonSetup.run { try await preparePython(packages, modules: modules) }
}

private let pythonSetup = OneAtATime()

/// Runs async bodies one after another, in the order they were handed in.
private final class OneAtATime: Sendable {
    private let last = LockedValue<Task<Void, Never>?>(nil)

    func run<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let task = self.last.withLock { last -> Task<Value, any Error> in
            let previous = last
            let task = Task {
                await previous?.value
                return try await body()
            }
            last = Task { _ = try? await task.value }
            return task
        }
        return try await task.value
    }
}

private func preparePython(_ packages: [String], modules: [String]?) async throws -> String {
    let root = fixturePath("").split(separator: "/", omittingEmptySubsequences: false).dropLast(2).joined(
        separator: "/")
    let venv = root + "/.build-pyvenv"
    let python = venv + "/bin/python"
    if findExecutable([python]) == nil {
        // The python3 on PATH first: the one scripts/test.sh checks for `venv`.
        guard let system = findExecutable(pathCandidates("python3") + ["/usr/bin/python3", "/usr/local/bin/python3"])
        else {
            throw TestSupportError("python3 is not installed")
        }
        _ = try await runProcess(system, ["-m", "venv", venv])
    }
    let check =
        "import importlib.util, sys; sys.exit(0 if all(importlib.util.find_spec(p) for p in sys.argv[1:]) else 1)"
    let modules = modules ?? packages.map { $0.split(separator: "=").first.map(String.init) ?? $0 }
    if (try? await runProcess(python, ["-c", check] + modules)) == nil {
        _ = try await runProcess(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"] + packages)
    }
    return python
}

private func pathCandidates(_ name: String) -> [String] {
    (getenv("PATH").map { String(cString: $0) } ?? "").split(separator: ":").map { "\($0)/\(name)" }
}
