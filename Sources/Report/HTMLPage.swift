import Foundation
import Planner
import Profile

/// Self-contained pages (inline CSS and SVG, no network), written as well-formed XHTML.
public enum HTMLPage {
  static func escape(_ text: String) -> String { SVGChart.escape(text) }

  static func page(title: String, body: String) -> String {
    """
    <?xml version="1.0" encoding="UTF-8"?>
    <!DOCTYPE html>
    <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
    <head>
    <meta charset="utf-8"/>
    <title>\(escape(title))</title>
    <style>
    body { font-family: sans-serif; margin: 16px; color: #222; }
    table { border-collapse: collapse; font-size: 12px; margin: 8px 0 16px; }
    th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }
    th { background: #f3f3f3; }
    .columns { display: flex; flex-wrap: wrap; gap: 16px; }
    .column { border: 1px solid #ddd; padding: 8px; }
    .suspect { color: #b00; font-weight: bold; }
    .charts { display: flex; flex-wrap: wrap; gap: 8px; }
    </style>
    </head>
    <body>
    \(body)
    </body>
    </html>
    """
  }

  static func table(header: [String], rows: [[String]]) -> String {
    var html = "<table><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr>\n"
    for row in rows { html += "<tr>" + row.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }
    return html + "</table>"
  }

  public static func comparison(_ comparison: Comparison) -> String {
    let (header, rows) = comparison.rows()
    var body = "<h1>ScaleTune: \(comparison.profiles.count) profiles compared</h1>\n"
    body += table(header: header, rows: rows)
    body += "<ul>" + comparison.findings.map { "<li\($0.hasPrefix("SUSPECT") ? " class=\"suspect\"" : "")>\(escape($0))</li>" }.joined() + "</ul>"
    return page(title: "ScaleTune comparison", body: body)
  }

  /// `tune report`: the pictures of each profile, side by side when there are several.
  public static func report(_ profiles: [(path: String, profile: Profile)], plans: [(path: String, plan: Plan)] = []) -> String {
    var body = "<h1>ScaleTune report</h1>\n<div class=\"columns\">\n"
    for (path, plan) in plans {
      body += "<div class=\"column\">\n<h2>Plan: \(escape(plan.model)) on \(plan.devices) × \(escape(plan.device))</h2>\n<p>\(escape(path))</p>\n"
      if let chart = ReportCharts.plan(plan) { body += "<div class=\"charts\">\n" + chart + "\n</div>\n" }
      body += "<pre>\(escape(PlanSummary.text(plan, top: 10)))</pre>\n</div>\n"
    }
    for (path, profile) in profiles {
      body += "<div class=\"column\">\n<h2>\(escape(profile.machine?.hostname ?? path))</h2>\n"
      if let machine = profile.machine {
        body += "<p>\(escape(machine.cpu.modelName)), \(machine.topology.cores) cores, \(escape(machine.blas.library)) \(escape(machine.blas.version)) (core \(escape(machine.blas.coreName))); fingerprint \(escape(machine.fingerprint)); \(escape(path))</p>\n"
        if let load = machine.measurementLoad, load.busy { body += "<p class=\"suspect\">\(escape(load.sentence))</p>\n" }
      }
      let excesses = PeakBounds.excesses(profile)
      if !excesses.isEmpty {
        body += "<p class=\"suspect\">Peak check failed: kernel rates above the peak of every unit that can run them (shown as written):</p><ul>"
          + excesses.map { "<li class=\"suspect\">\(escape($0.description))</li>" }.joined() + "</ul>\n"
      }
      let charts = [ReportCharts.roofline(profile), ReportCharts.gemmByShape(profile),
                    ReportCharts.librariesByShape(profile, precision: "fp32"), ReportCharts.librariesByShape(profile, precision: "bf16"),
                    ReportCharts.precisionBars(profile),
                    ReportCharts.accuracyVersusSpeed(profile), ReportCharts.candidates(profile), ReportCharts.attention(profile),
                    ReportCharts.parallel(profile), ReportCharts.fleetLinks(profile), ReportCharts.fleetBandwidth(profile)].compactMap { $0 }
      body += charts.isEmpty ? "<p>This profile has no measured figures to draw.</p>\n" : "<div class=\"charts\">\n" + charts.joined(separator: "\n") + "\n</div>\n"
      if let fleet = profile.fleet {
        body += "<p>Fleet of \(fleet.nodes.count) nodes (\(escape(fleet.nodes.map(\.name).joined(separator: ", ")))) over \(escape(fleet.transport)).</p>\n"
        if !fleet.stragglers.isEmpty { body += "<ul>" + fleet.stragglers.map { "<li class=\"suspect\">\(escape($0.description))</li>" }.joined() + "</ul>\n" }
      } else {
        if profile.kernels?.attention == nil { body += "<p>Attention: absent from this profile (tune attention has not run).</p>\n" }
        if profile.parallel == nil { body += "<p>Parallel trials: absent from this profile (tune parallel has not run).</p>\n" }
      }
      body += "</div>\n"
    }
    body += "</div>"
    return page(title: "ScaleTune report", body: body)
  }
}
