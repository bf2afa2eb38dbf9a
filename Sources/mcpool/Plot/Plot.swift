import ArgumentParser
import Foundation

struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw the latency percentile curves of .hgrm files on one SVG chart.",
        discussion: """
            Reads HdrHistogram percentile-distribution files (mcpool bench --hdr-file, wrk2, memtier_benchmark) \
            and draws each as a curve, as HdrHistogram's plotter does: percentiles on a log scale (90%, 99%, \
            99.9% … evenly spaced), latency in milliseconds from 0. A before/after comparison is one picture.
            """
    )

    @Argument(help: "The .hgrm files, one curve each (named after the file).") var files: [String]
    @Option(name: .shortAndLong, help: "The SVG file to write.") var output = "latency.svg"
    @Option(help: "The chart's title.") var title = "Latency by percentile"

    func validate() throws {
        guard !self.files.isEmpty else { throw ValidationError("give at least one .hgrm file") }
    }

    func run() throws {
        let curves: [PercentileDistribution]
        do {
            curves = try self.files.map { try PercentileDistribution(path: $0) }
        } catch let error as PlotError {
            printError("mcpool plot: \(error)")
            throw ExitCode.failure
        }
        let svg = LatencyChart(curves: curves, title: self.title).svg()
        do {
            try svg.write(toFile: self.output, atomically: true, encoding: .utf8)
        } catch {
            printError("mcpool plot: cannot write \(self.output): \(error.localizedDescription)")
            throw ExitCode.failure
        }
        print("mcpool plot: wrote \(self.output) (\(curves.count) curve\(curves.count == 1 ? "" : "s"))")
    }
}
