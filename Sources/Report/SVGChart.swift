import Foundation

/// A small SVG plot: axes (linear or log10), ticks, points, lines, bars and labels, written as
/// well-formed XML so the page that embeds it needs nothing else.
struct SVGChart {
  enum Scale { case linear, log }

  let width = 460.0, height = 300.0
  let left = 64.0, right = 16.0, top = 28.0, bottom = 48.0
  var title: String
  var xLabel: String
  var yLabel: String
  var xScale: Scale
  var yScale: Scale
  var xRange: ClosedRange<Double>
  var yRange: ClosedRange<Double>
  private var body: [String] = []

  init(title: String, xLabel: String, yLabel: String, xScale: Scale, yScale: Scale, xRange: ClosedRange<Double>, yRange: ClosedRange<Double>) {
    self.title = title
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.xScale = xScale
    self.yScale = yScale
    self.xRange = xRange
    self.yRange = yRange
  }

  static func escape(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  func fraction(_ value: Double, _ range: ClosedRange<Double>, _ scale: Scale) -> Double {
    switch scale {
    case .linear: return (value - range.lowerBound) / max(1e-300, range.upperBound - range.lowerBound)
    case .log: return (log10(max(value, 1e-300)) - log10(range.lowerBound)) / max(1e-300, log10(range.upperBound) - log10(range.lowerBound))
    }
  }

  func x(_ value: Double) -> Double { left + fraction(value, xRange, xScale) * (width - left - right) }
  func y(_ value: Double) -> Double { height - bottom - fraction(value, yRange, yScale) * (height - top - bottom) }

  static func f(_ value: Double) -> String { String(format: "%.1f", value) }

  mutating func point(_ px: Double, _ py: Double, color: String, label: String? = nil, radius: Double = 4) {
    guard px.isFinite, py.isFinite else { return }
    var element = "<circle cx=\"\(Self.f(x(px)))\" cy=\"\(Self.f(y(py)))\" r=\"\(radius)\" fill=\"\(color)\" fill-opacity=\"0.8\">"
    if let label { element += "<title>\(Self.escape(label))</title>" }
    body.append(element + "</circle>")
  }

  mutating func line(_ points: [(Double, Double)], color: String, width strokeWidth: Double = 1.5, dashed: Bool = false) {
    let path = points.filter { $0.0.isFinite && $0.1.isFinite }.map { "\(Self.f(x($0.0))),\(Self.f(y($0.1)))" }.joined(separator: " ")
    body.append("<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(strokeWidth)\"\(dashed ? " stroke-dasharray=\"4 3\"" : "")/>")
  }

  mutating func text(_ px: Double, _ py: Double, _ content: String, color: String = "#333", size: Int = 10, anchor: String = "start") {
    body.append("<text x=\"\(Self.f(x(px)))\" y=\"\(Self.f(y(py)))\" font-size=\"\(size)\" fill=\"\(color)\" text-anchor=\"\(anchor)\">\(Self.escape(content))</text>")
  }

  /// A horizontal bar from the y axis' low end, for category charts (x is the category index).
  mutating func bar(at index: Double, width barWidth: Double, value: Double, color: String, label: String) {
    let x0 = x(index - barWidth / 2), x1 = x(index + barWidth / 2)
    let y0 = y(yRange.lowerBound), y1 = y(min(value, yRange.upperBound))
    body.append("<rect x=\"\(Self.f(x0))\" y=\"\(Self.f(y1))\" width=\"\(Self.f(max(1, x1 - x0)))\" height=\"\(Self.f(max(0, y0 - y1)))\" fill=\"\(color)\"><title>\(Self.escape(label))</title></rect>")
  }

  func ticks(_ range: ClosedRange<Double>, _ scale: Scale) -> [Double] {
    switch scale {
    case .log:
      let low = Int(floor(log10(range.lowerBound))), high = Int(ceil(log10(range.upperBound)))
      return (low...high).map { pow(10, Double($0)) }.filter { range.contains($0) }
    case .linear:
      let span = range.upperBound - range.lowerBound
      let rough = span / 5
      let magnitude = pow(10, floor(log10(max(rough, 1e-12))))
      let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? rough
      return stride(from: ceil(range.lowerBound / step) * step, through: range.upperBound, by: step).map { $0 }
    }
  }

  static func tickLabel(_ value: Double) -> String {
    if value != 0 && (abs(value) < 0.01 || abs(value) >= 100_000) { return String(format: "%.0e", value) }
    return value.rounded() == value ? String(Int(value)) : String(format: "%g", value)
  }

  /// Category names under the x axis (for bar charts).
  var categories: [String] = []

  func svg() -> String {
    var parts = ["<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" font-family=\"sans-serif\">"]
    parts.append("<rect x=\"0\" y=\"0\" width=\"\(Int(width))\" height=\"\(Int(height))\" fill=\"#fff\"/>")
    parts.append("<text x=\"\(Self.f(width / 2))\" y=\"16\" font-size=\"13\" text-anchor=\"middle\" font-weight=\"bold\">\(Self.escape(title))</text>")
    let plotBottom = height - bottom, plotRight = width - right
    parts.append("<line x1=\"\(left)\" y1=\"\(plotBottom)\" x2=\"\(plotRight)\" y2=\"\(plotBottom)\" stroke=\"#444\"/>")
    parts.append("<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(plotBottom)\" stroke=\"#444\"/>")
    for tick in ticks(yRange, yScale) {
      let ty = y(tick)
      parts.append("<line x1=\"\(left)\" y1=\"\(Self.f(ty))\" x2=\"\(plotRight)\" y2=\"\(Self.f(ty))\" stroke=\"#eee\"/>")
      parts.append("<text x=\"\(left - 4)\" y=\"\(Self.f(ty + 3))\" font-size=\"9\" text-anchor=\"end\">\(Self.tickLabel(tick))</text>")
    }
    if categories.isEmpty {
      for tick in ticks(xRange, xScale) {
        parts.append("<text x=\"\(Self.f(x(tick)))\" y=\"\(Self.f(plotBottom + 12))\" font-size=\"9\" text-anchor=\"middle\">\(Self.tickLabel(tick))</text>")
      }
    } else {
      for (index, name) in categories.enumerated() {
        let cx = x(Double(index))
        parts.append("<text x=\"\(Self.f(cx))\" y=\"\(Self.f(plotBottom + 10))\" font-size=\"8\" text-anchor=\"end\" transform=\"rotate(-35 \(Self.f(cx)) \(Self.f(plotBottom + 10)))\">\(Self.escape(name))</text>")
      }
    }
    parts.append("<text x=\"\(Self.f((left + plotRight) / 2))\" y=\"\(Int(height) - 4)\" font-size=\"10\" text-anchor=\"middle\">\(Self.escape(xLabel))</text>")
    parts.append("<text x=\"12\" y=\"\(Self.f((top + plotBottom) / 2))\" font-size=\"10\" text-anchor=\"middle\" transform=\"rotate(-90 12 \(Self.f((top + plotBottom) / 2)))\">\(Self.escape(yLabel))</text>")
    parts += body
    parts.append("</svg>")
    return parts.joined(separator: "\n")
  }
}
