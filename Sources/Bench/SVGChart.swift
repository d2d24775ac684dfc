import Foundation

/// Hand-written SVG charts for the benchmark report: no plotting dependency, and the files open
/// in any browser.
public enum SVGChart {
    public struct Series: Sendable {
        public var name: String
        /// (x, median, min, max)
        public var points: [(x: Double, y: Double, low: Double, high: Double)]
        public init(name: String, points: [(x: Double, y: Double, low: Double, high: Double)]) {
            self.name = name
            self.points = points
        }
    }

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    static let width = 640.0, height = 400.0
    static let left = 80.0, right = 150.0, top = 40.0, bottom = 60.0

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    /// About five round tick values covering 0...maxValue.
    static func ticks(upTo maxValue: Double) -> [Double] {
        guard maxValue > 0, maxValue.isFinite else { return [0, 1] }
        let raw = maxValue / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        return stride(from: 0.0, through: maxValue + step * 0.999, by: step).map { $0 }
    }

    static func label(_ v: Double) -> String {
        if v == 0 { return "0" }
        if abs(v) >= 1000 || abs(v) < 0.01 { return String(format: "%.3g", v) }
        return String(format: "%g", (v * 1000).rounded() / 1000)
    }

    static func header(_ title: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(fmt(width / 2))" y="22" text-anchor="middle" font-size="15" font-weight="bold">\(escape(title))</text>

        """
    }

    static func legend(_ names: [String]) -> String {
        var s = ""
        for (i, name) in names.enumerated() {
            let y = top + 10 + Double(i) * 20
            let color = palette[i % palette.count]
            s += "<rect x=\"\(fmt(width - right + 15))\" y=\"\(fmt(y - 9))\" width=\"14\" height=\"10\" fill=\"\(color)\"/>\n"
            s += "<text x=\"\(fmt(width - right + 35))\" y=\"\(fmt(y))\">\(escape(name))</text>\n"
        }
        return s
    }

    static func axes(xLabel: String, yLabel: String) -> String {
        let x0 = left, y0 = height - bottom
        return """
        <line x1="\(fmt(x0))" y1="\(fmt(y0))" x2="\(fmt(width - right))" y2="\(fmt(y0))" stroke="black"/>
        <line x1="\(fmt(x0))" y1="\(fmt(top))" x2="\(fmt(x0))" y2="\(fmt(y0))" stroke="black"/>
        <text x="\(fmt((left + width - right) / 2))" y="\(fmt(height - 18))" text-anchor="middle">\(escape(xLabel))</text>
        <text x="18" y="\(fmt((top + y0) / 2))" text-anchor="middle" transform="rotate(-90 18 \(fmt((top + y0) / 2)))">\(escape(yLabel))</text>

        """
    }

    /// Lines with min-max error bars; x values are placed evenly (thread counts 1, 2, 4, ...).
    public static func lines(title: String, xLabel: String, yLabel: String, series: [Series]) -> String {
        let xs = Array(Set(series.flatMap { $0.points.map(\.x) })).sorted()
        let maxY = series.flatMap { $0.points.map { max($0.high, $0.y) } }.filter(\.isFinite).max() ?? 1
        let yTicks = ticks(upTo: maxY)
        let yMax = yTicks.last ?? 1
        let plotW = width - left - right, plotH = height - top - bottom
        func px(_ x: Double) -> Double {
            guard let i = xs.firstIndex(of: x) else { return left }
            return xs.count == 1 ? left + plotW / 2 : left + 30 + Double(i) * (plotW - 60) / Double(xs.count - 1)
        }
        func py(_ y: Double) -> Double { height - bottom - plotH * min(max(y / yMax, 0), 1) }
        var s = header(title)
        for t in yTicks {
            s += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(py(t)))\" x2=\"\(fmt(width - right))\" y2=\"\(fmt(py(t)))\" stroke=\"#dddddd\"/>\n"
            s += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(py(t) + 4))\" text-anchor=\"end\">\(label(t))</text>\n"
        }
        for x in xs {
            s += "<line x1=\"\(fmt(px(x)))\" y1=\"\(fmt(height - bottom))\" x2=\"\(fmt(px(x)))\" y2=\"\(fmt(height - bottom + 5))\" stroke=\"black\"/>\n"
            s += "<text x=\"\(fmt(px(x)))\" y=\"\(fmt(height - bottom + 18))\" text-anchor=\"middle\">\(label(x))</text>\n"
        }
        s += axes(xLabel: xLabel, yLabel: yLabel)
        for (i, serie) in series.enumerated() {
            let color = palette[i % palette.count]
            let pts = serie.points.sorted { $0.x < $1.x }
            if pts.count > 1 {
                let path = pts.map { "\(fmt(px($0.x))),\(fmt(py($0.y)))" }.joined(separator: " ")
                s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            }
            for p in pts {
                let x = px(p.x)
                s += "<line x1=\"\(fmt(x))\" y1=\"\(fmt(py(p.low)))\" x2=\"\(fmt(x))\" y2=\"\(fmt(py(p.high)))\" stroke=\"\(color)\"/>\n"
                s += "<circle cx=\"\(fmt(x))\" cy=\"\(fmt(py(p.y)))\" r=\"4\" fill=\"\(color)\"><title>\(escape(serie.name)): \(label(p.y))</title></circle>\n"
            }
        }
        s += legend(series.map(\.name))
        return s + "</svg>\n"
    }

    /// Bars on a log10 axis (KL divergences span decades between types), value printed on each.
    public static func logBars(title: String, yLabel: String, bars: [(name: String, value: Double)]) -> String {
        let positive = bars.map(\.value).filter { $0 > 0 && $0.isFinite }
        let lo = floor(log10(positive.min() ?? 1e-3) - 0.3), hi = max(ceil(log10(positive.max() ?? 1) + 0.1), lo + 1)
        let plotW = width - left - right, plotH = height - top - bottom
        func py(_ v: Double) -> Double {
            guard v > 0 else { return height - bottom }
            return height - bottom - plotH * min(max((log10(v) - lo) / (hi - lo), 0), 1)
        }
        var s = header(title)
        for d in stride(from: lo, through: hi, by: 1) {
            let v = pow(10, d)
            s += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(py(v)))\" x2=\"\(fmt(width - right))\" y2=\"\(fmt(py(v)))\" stroke=\"#dddddd\"/>\n"
            s += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(py(v) + 4))\" text-anchor=\"end\">1e\(Int(d))</text>\n"
        }
        let slot = plotW / Double(max(bars.count, 1))
        for (i, bar) in bars.enumerated() {
            let x = left + Double(i) * slot + slot * 0.2, w = slot * 0.6
            let y = py(bar.value)
            s += "<rect x=\"\(fmt(x))\" y=\"\(fmt(y))\" width=\"\(fmt(w))\" height=\"\(fmt(height - bottom - y))\" fill=\"\(palette[i % palette.count])\"/>\n"
            s += "<text x=\"\(fmt(x + w / 2))\" y=\"\(fmt(y - 5))\" text-anchor=\"middle\">\(label(bar.value))</text>\n"
            s += "<text x=\"\(fmt(x + w / 2))\" y=\"\(fmt(height - bottom + 18))\" text-anchor=\"middle\">\(escape(bar.name))</text>\n"
        }
        s += axes(xLabel: "", yLabel: yLabel)
        return s + "</svg>\n"
    }
}
