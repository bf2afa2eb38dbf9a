import Foundation

/// Latency curves on one SVG chart, drawn as HdrHistogram's plotter draws them: percentiles
/// along x on a log scale of 1/(1-p) (so 90 %, 99 %, 99.9 % … are evenly spaced and the tail
/// gets room), latency along y, linear from 0.
struct LatencyChart {
    static let width = 900.0
    static let height = 540.0
    static let left = 80.0
    static let right = 200.0
    static let top = 50.0
    static let bottom = 60.0
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    let curves: [PercentileDistribution]
    let title: String
    /// The x axis runs to 1/(1-p) = 10^decades (99.9 % at 3, …).
    let decades: Int
    /// The y axis runs from 0 to this many milliseconds.
    let maximumValue: Double

    init(curves: [PercentileDistribution], title: String) {
        self.curves = curves
        self.title = title
        // As far as the last finite percentile of any curve reaches, 2 to 6 decades.
        let reach =
            curves.flatMap(\.points).filter { $0.percentile < 1 }.map { Self.decadesOf($0.percentile) }.max() ?? 2
        self.decades = min(6, max(2, Int(reach.rounded(.up))))
        self.maximumValue = Self.niceCeiling(curves.flatMap(\.points).map(\.value).max() ?? 1)
    }

    /// log10(1/(1-p)): 0 at 0 %, 1 at 90 %, 2 at 99 %, …
    static func decadesOf(_ percentile: Double) -> Double {
        percentile >= 1 ? .infinity : -log10(1 - percentile)
    }

    /// A round number at or above `value` (1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of
    /// ten), so the axis ends near the highest value and its fifths are round too.
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0 else { return 1 }
        let power = pow(10, floor(log10(value)))
        return [1.0, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].map { $0 * power }.first { $0 >= value * (1 - 1e-12) } ?? 10
            * power
    }

    var plotWidth: Double { Self.width - Self.left - Self.right }
    var plotHeight: Double { Self.height - Self.top - Self.bottom }

    /// Where a value at a percentile lands on the chart (SVG coordinates: y grows down);
    /// 100 % lands on the right edge.
    func point(percentile: Double, value: Double) -> (x: Double, y: Double) {
        let decades = min(Self.decadesOf(percentile), Double(self.decades))
        return (
            Self.left + decades / Double(self.decades) * self.plotWidth,
            Self.top + (1 - value / self.maximumValue) * self.plotHeight
        )
    }

    func svg() -> String {
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(Self.width))" height="\(Int(Self.height))" \
            viewBox="0 0 \(Int(Self.width)) \(Int(Self.height))" font-family="sans-serif" font-size="13">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(Self.left + self.plotWidth / 2)" y="28" text-anchor="middle" font-size="16">\(Self.escape(self.title))</text>

            """
        // Grid and ticks: one vertical line per decade, five horizontal ones.
        let bottomY = Self.top + self.plotHeight
        for decade in 0...self.decades {
            let x = self.point(percentile: 1 - pow(10, -Double(decade)), value: 0).x
            out += "<line x1=\"\(x)\" y1=\"\(Self.top)\" x2=\"\(x)\" y2=\"\(bottomY)\" stroke=\"#dddddd\"/>\n"
            out +=
                "<text x=\"\(x)\" y=\"\(bottomY + 20)\" text-anchor=\"middle\">\(Self.percentileLabel(decade))</text>\n"
        }
        for step in 0...5 {
            let value = self.maximumValue * Double(step) / 5
            let y = self.point(percentile: 0, value: value).y
            out +=
                "<line x1=\"\(Self.left)\" y1=\"\(y)\" x2=\"\(Self.left + self.plotWidth)\" y2=\"\(y)\" stroke=\"#dddddd\"/>\n"
            out += "<text x=\"\(Self.left - 8)\" y=\"\(y + 4)\" text-anchor=\"end\">\(Self.number(value))</text>\n"
        }
        out +=
            "<rect x=\"\(Self.left)\" y=\"\(Self.top)\" width=\"\(self.plotWidth)\" height=\"\(self.plotHeight)\" fill=\"none\" stroke=\"#333333\"/>\n"
        out +=
            "<text x=\"\(Self.left + self.plotWidth / 2)\" y=\"\(Self.height - 12)\" text-anchor=\"middle\">Percentile</text>\n"
        out +=
            "<text x=\"20\" y=\"\(Self.top + self.plotHeight / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 20 \(Self.top + self.plotHeight / 2))\">Latency (milliseconds)</text>\n"
        // The curves, then their legend.
        for (index, curve) in self.curves.enumerated() {
            let color = Self.colors[index % Self.colors.count]
            let points = curve.points.map { self.point(percentile: $0.percentile, value: $0.value) }
                .map { "\(Self.number($0.x)),\(Self.number($0.y))" }.joined(separator: " ")
            out += "<polyline points=\"\(points)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            let y = Self.top + 10 + Double(index) * 22
            let x = Self.left + self.plotWidth + 16
            out += "<rect x=\"\(x)\" y=\"\(y)\" width=\"14\" height=\"14\" fill=\"\(color)\"/>\n"
            out += "<text x=\"\(x + 20)\" y=\"\(y + 12)\">\(Self.escape(curve.name))</text>\n"
        }
        return out + "</svg>\n"
    }

    static func percentileLabel(_ decade: Int) -> String {
        switch decade {
        case 0: return "0%"
        case 1: return "90%"
        case 2: return "99%"
        default: return "99." + String(repeating: "9", count: decade - 2) + "%"
        }
    }

    /// At most three decimals, without trailing zeros.
    static func number(_ value: Double) -> String {
        var text = String(format: "%.3f", value)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
