import ArgumentParser
import Foundation
import Histogram
import TestSupport
import Testing

@testable import mcpool

@Suite("mcpool plot")
struct PlotTests {
    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent(
            "plot-\(UInt32.random(in: 0...UInt32.max))-\(name)"
        ).path
    }

    @Test("reads the .hgrm text hdrhistogram-swift writes (bench --hdr-file): rows in order, up to the maximum")
    func readsHgrm() throws {
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for microseconds in 1...1000 { _ = histogram.record(UInt64(microseconds) * 1000) }
        var text = ""
        histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1e6)
        let curve = try PercentileDistribution(name: "run", text: text)
        #expect(curve.points.count > 20)
        #expect(curve.points.first?.value == 0.001)
        #expect(curve.points.last == .init(value: 1.0, percentile: 1.0))
        let median = try #require(curve.points.first { $0.percentile >= 0.5 })
        #expect(abs(median.value - 0.5) < 0.001)
    }

    @Test("what is not a percentile distribution is one clear error, and the command exits 1")
    func refusesGarbage() throws {
        #expect(throws: PlotError.self) { try PercentileDistribution(name: "x", text: "hello\nworld\n") }
        // backwards
        #expect(throws: PlotError.self) { try PercentileDistribution(name: "x", text: "1.0 0.5 1 2\n0.5 0.9 2 10\n") }
        // percentile past 1
        #expect(throws: PlotError.self) { try PercentileDistribution(name: "x", text: "1.0 1.5 1 2\n") }
        #expect(throws: PlotError.self) { try PercentileDistribution(path: "/nonexistent/a.hgrm") }
        let garbage = Self.temporary("garbage.hgrm")
        try "not a histogram\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        #expect(throws: ExitCode.failure) { try Plot.parse([garbage, "-o", Self.temporary("out.svg")]).run() }
        #expect(throws: (any Error).self) { try Plot.parse([]) }
    }

    /// Two curves of known points, drawn, rendered to PNG by librsvg, and looked at pixel by
    /// pixel (Pillow): each curve's colour sits where the chart's scale puts its values at the
    /// 90 % and 99 % columns, the faster curve lower. (At 99.9 % the curve meets the right
    /// edge, where 100 % is drawn too: a vertical stretch, not one point.)
    @Test("the SVG renders to a PNG whose curves lie where the percentile scale puts them")
    func rendersCurves() async throws {
        let rsvg = try #require(
            findExecutable(["/usr/bin/rsvg-convert", "/usr/local/bin/rsvg-convert"]),
            "scripts/test.sh installs librsvg2-bin")
        let python = try await pythonWithPackages(["pillow==11.0.0"], modules: ["PIL"])
        let fast = Self.temporary("before.hgrm")
        let slow = Self.temporary("after.hgrm")
        let rows = [(0.1, 0.0), (0.2, 0.9), (0.4, 0.99), (0.8, 0.999), (1.0, 1.0)]
        func hgrm(_ scale: Double) -> String {
            "       Value     Percentile TotalCount 1/(1-Percentile)\n\n"
                + rows.map {
                    String(format: "%12.3f %2.12f %10d %14.2f\n", $0.0 * scale, $0.1, 1, 1 / (1 - min($0.1, 0.9999)))
                }.joined()
                + "#[Mean    =        0.200, StdDeviation   =        0.100]\n"
        }
        try hgrm(1).write(toFile: fast, atomically: true, encoding: .utf8)
        try hgrm(2).write(toFile: slow, atomically: true, encoding: .utf8)
        let svg = Self.temporary("latency.svg")
        let png = Self.temporary("latency.png")
        try Plot.parse([fast, slow, "-o", svg, "--title", "before & after"]).run()
        _ = try await runProcess(rsvg, ["-o", png, svg])

        let chart = LatencyChart(
            curves: [try PercentileDistribution(path: fast), try PercentileDistribution(path: slow)], title: "")
        #expect(chart.decades == 3 && chart.maximumValue == 2)
        #expect((0...4).map(LatencyChart.percentileLabel) == ["0%", "90%", "99%", "99.9%", "99.99%"])
        #expect([0.7, 1.0, 10.4, 0.031].map(LatencyChart.niceCeiling) == [0.8, 1.0, 15, 0.04])
        var probes: [[String: String]] = []
        var expected: [String: Double] = [:]
        for (index, scale) in [1.0, 2.0].enumerated() {
            for (value, percentile) in rows[1...2] {
                let point = chart.point(percentile: percentile, value: value * scale)
                let key = "\(index)@\(percentile)"
                probes.append(["key": key, "x": "\(point.x)", "color": LatencyChart.colors[index]])
                expected[key] = point.y
            }
        }
        let script = """
            import json, sys
            from PIL import Image
            image = Image.open(sys.argv[1]).convert("RGB")
            width, height = image.size
            def near(pixel, color): return all(abs(a - b) <= 40 for a, b in zip(pixel, color))
            found = {}
            for probe in json.loads(sys.argv[2]):
                color = tuple(int(probe["color"][i:i + 2], 16) for i in (1, 3, 5))
                x = round(float(probe["x"]))
                ys = [y for y in range(height) if any(near(image.getpixel((x + dx, y)), color) for dx in (-1, 0, 1))]
                found[probe["key"]] = sum(ys) / len(ys) if ys else None
            print(json.dumps({"size": [width, height], "found": found}))
            """
        let probesJSON = String(decoding: try JSONSerialization.data(withJSONObject: probes), as: UTF8.self)
        let output = try await runProcess(python, ["-c", script, png, probesJSON])
        let result = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        #expect(result["size"] as? [Int] == [Int(LatencyChart.width), Int(LatencyChart.height)])
        let found = try #require(result["found"] as? [String: Any])
        for (key, y) in expected {
            let seen = try #require(found[key] as? Double, "no pixel of curve \(key) in its column")
            #expect(abs(seen - y) <= 4, "\(key): drawn at y \(seen), expected \(y)")
        }
        // The slower curve is drawn higher (smaller y) at every probed percentile.
        for (_, percentile) in rows[1...2] {
            #expect((found["1@\(percentile)"] as? Double ?? 0) < (found["0@\(percentile)"] as? Double ?? 0))
        }
    }
}
