import Foundation

/// The machine a bench run measured, printed with every result: the same binary has measured
/// 0.97× of the C load tool on one 2-vCPU machine and 0.45× on another, so a figure without
/// its machine says little.
enum BenchMachine {
    /// `/proc/cpuinfo`'s first "model name" and the CPUs this process may use, e.g.
    /// `AMD EPYC, 2 CPUs` (`unknown CPU, 2 CPUs` where the file names no model).
    static let description: String = {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = modelName(inCPUInfo: cpuinfo) ?? "unknown CPU"
        return "\(model), \(ProcessInfo.processInfo.activeProcessorCount) CPUs"
    }()

    /// The value of the first `model name` line of a `/proc/cpuinfo` text, trimmed; nil when
    /// there is none or it is empty.
    static func modelName(inCPUInfo text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let model = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            return model.isEmpty ? nil : model
        }
        return nil
    }
}
