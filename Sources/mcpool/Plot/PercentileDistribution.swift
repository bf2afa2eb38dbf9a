import Foundation

/// One latency curve read from an HdrHistogram percentile-distribution file (`.hgrm`: what
/// `mcpool bench --hdr-file`, wrk2 and memtier_benchmark write): values (milliseconds, as
/// those tools write them) at increasing percentiles.
struct PercentileDistribution: Equatable {
    struct Point: Equatable {
        /// Milliseconds.
        let value: Double
        /// 0 to 1.
        let percentile: Double
    }

    let name: String
    let points: [Point]

    /// Reads the rows `Value Percentile TotalCount 1/(1-Percentile)` (spaces or commas
    /// between them); the header and the `#[…]` summary lines are skipped.
    ///
    /// - Throws: `PlotError` when no row can be read or the rows go backwards.
    init(name: String, text: String) throws {
        var points: [Point] = []
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\t" })
            guard fields.count >= 3, let value = Double(fields[0]), let percentile = Double(fields[1]) else { continue }
            guard value.isFinite, value >= 0, (0...1).contains(percentile) else {
                throw PlotError(
                    "\(name): a row with value \(fields[0]) at percentile \(fields[1]) is not a latency distribution")
            }
            if let last = points.last, percentile < last.percentile || value < last.value {
                throw PlotError(
                    "\(name): the rows go backwards at percentile \(fields[1]) (sorted by percentile, values must not fall)"
                )
            }
            points.append(Point(value: value, percentile: percentile))
        }
        guard !points.isEmpty else {
            throw PlotError(
                "\(name): no rows of an HdrHistogram percentile distribution (.hgrm: Value Percentile TotalCount …)")
        }
        self.name = name
        self.points = points
    }

    /// Reads `path`; the curve is named after the file (without its extension).
    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw PlotError("cannot read \(path)") }
        let file = (path as NSString).lastPathComponent
        let name = file.hasSuffix(".hgrm") ? String(file.dropLast(5)) : file
        try self.init(name: name, text: String(decoding: data, as: UTF8.self))
    }
}

/// A file `mcpool plot` cannot draw, said in one line.
struct PlotError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
