import Foundation
public import Wire

/// The control-quality picture as SVG, written by hand (`thermoshard simulate --report
/// FILE.svg`; the dashboard draws the same on a canvas): for each of the first sensors sampled,
/// its temperature against its desired band over time with the heater's on/off as a strip
/// below, then the fleet's fraction out of band (now, and of all time so far).
///
/// Each series is an element with a class, so that programs (and tests) find them:
/// `g.sensor[data-sensor]` holding `path.band`, `polyline.temperature` and `g.heater` (one
/// `rect` per stretch with the heater on); `g.fleet` holding `polyline.out-of-band` and
/// `polyline.out-of-band-time`.
public enum ControlChartSVG {
    public static func render(_ reports: [ControlReport], sensors: Int = 4, width: Double = 960) -> String {
        let panel = 150.0, gap = 34.0, left = 56.0, right = 16.0, top = 40.0
        let ids = Array((reports.last?.samples.map(\.sensor) ?? []).prefix(sensors))
        let height = top + Double(ids.count + 1) * (panel + gap) + 10
        let plotWidth = width - left - right
        let t0 = reports.first?.simulatedSeconds ?? 0
        let t1 = max(t0 + 1, reports.last?.simulatedSeconds ?? 1)
        func x(_ t: Double) -> Double { left + (t - t0) / (t1 - t0) * plotWidth }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }

        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(f(width))" height="\(f(height))" viewBox="0 0 \(f(width)) \(f(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(left))" y="22" font-size="15" font-weight="bold">Control quality: temperature against the desired band, heater on/off</text>

            """
        if reports.isEmpty {
            out += #"<text x="\#(f(left))" y="60">no observations</text>"# + "\n</svg>\n"
            return out
        }
        for (row, sensor) in ids.enumerated() {
            let y0 = top + Double(row) * (panel + gap)
            let series = reports.compactMap { report in report.samples.first { $0.sensor == sensor }.map { (report.simulatedSeconds, $0) } }
            let values = series.flatMap { [$0.1.temperature, $0.1.desired + $0.1.up, $0.1.desired - $0.1.down] }
            let low = (values.min() ?? 0) - 0.5, high = (values.max() ?? 1) + 0.5
            let strip = 12.0, plot = panel - strip - 6
            func y(_ v: Double) -> Double { y0 + plot - (v - low) / max(0.001, high - low) * plot }
            out += #"<g class="sensor" data-sensor="\#(sensor)">"# + "\n"
            out += #"<rect x="\#(f(left))" y="\#(f(y0))" width="\#(f(plotWidth))" height="\#(f(plot))" fill="none" stroke="lightgray"/>"# + "\n"
            out += #"<text x="\#(f(left))" y="\#(f(y0 - 6))">sensor \#(sensor)</text>"# + "\n"
            out += #"<text x="\#(f(left - 6))" y="\#(f(y0 + 10))" text-anchor="end">\#(f(high))</text>"#
            out += #"<text x="\#(f(left - 6))" y="\#(f(y0 + plot))" text-anchor="end">\#(f(low))</text>"# + "\n"
            let upper = series.map { "\(f(x($0.0))),\(f(y($0.1.desired + $0.1.up)))" }
            let lower = series.reversed().map { "\(f(x($0.0))),\(f(y($0.1.desired - $0.1.down)))" }
            out += #"<path class="band" d="M\#((upper + lower).joined(separator: " L"))Z" fill="rgb(207,232,207)" stroke="rgb(139,196,139)"/>"# + "\n"
            let points = series.map { "\(f(x($0.0))),\(f(y($0.1.temperature)))" }.joined(separator: " ")
            out += #"<polyline class="temperature" points="\#(points)" fill="none" stroke="rgb(192,57,43)" stroke-width="1.5"/>"# + "\n"
            // The heater strip: one rect per stretch with the heater on.
            out += #"<g class="heater"><rect x="\#(f(left))" y="\#(f(y0 + plot + 4))" width="\#(f(plotWidth))" height="\#(f(strip))" fill="rgb(238,238,238)"/>"#
            var index = 0
            while index < series.count {
                guard series[index].1.heating else { index += 1; continue }
                let start = series[index].0
                var end = index
                while end + 1 < series.count, series[end + 1].1.heating { end += 1 }
                let stop = end + 1 < series.count ? series[end + 1].0 : series[end].0
                out += #"<rect class="on" x="\#(f(x(start)))" y="\#(f(y0 + plot + 4))" width="\#(f(max(1, x(stop) - x(start))))" height="\#(f(strip))" fill="rgb(230,126,34)"/>"#
                index = end + 1
            }
            out += "</g>\n</g>\n"
        }
        // The fleet: fraction out of band, 0...1.
        let y0 = top + Double(ids.count) * (panel + gap)
        let plot = panel - 20
        func y(_ v: Double) -> Double { y0 + plot - min(1, max(0, v)) * plot }
        out += #"<g class="fleet">"# + "\n"
        out += #"<rect x="\#(f(left))" y="\#(f(y0))" width="\#(f(plotWidth))" height="\#(f(plot))" fill="none" stroke="lightgray"/>"# + "\n"
        let last = reports.last!
        out += #"<text x="\#(f(left))" y="\#(f(y0 - 6))">fleet of \#(last.sensors): out of band now (blue) and share of time out of band (black), \#(f(last.outOfBandTime * 100))% so far</text>"# + "\n"
        out += #"<text x="\#(f(left - 6))" y="\#(f(y0 + 10))" text-anchor="end">100%</text><text x="\#(f(left - 6))" y="\#(f(y0 + plot))" text-anchor="end">0%</text>"# + "\n"
        let now = reports.map { "\(f(x($0.simulatedSeconds))),\(f(y($0.outOfBand)))" }.joined(separator: " ")
        let time = reports.map { "\(f(x($0.simulatedSeconds))),\(f(y($0.outOfBandTime)))" }.joined(separator: " ")
        out += #"<polyline class="out-of-band" points="\#(now)" fill="none" stroke="rgb(41,128,185)" stroke-width="1.5"/>"# + "\n"
        out += #"<polyline class="out-of-band-time" points="\#(time)" fill="none" stroke="rgb(34,34,34)" stroke-width="1.5"/>"# + "\n"
        out += #"<text x="\#(f(left))" y="\#(f(y0 + plot + 16))">\#(f(t0)) s</text><text x="\#(f(left + plotWidth))" y="\#(f(y0 + plot + 16))" text-anchor="end">\#(f(t1)) s (simulated)</text>"# + "\n"
        out += "</g>\n</svg>\n"
        return out
    }
}
