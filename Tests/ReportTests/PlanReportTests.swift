import Foundation
import Planner
import Profile
import Report
import Testing

#if canImport(FoundationXML)
import FoundationXML
#endif

/// `tune report` on a plan: the table a person reads, and the chart of the candidates
/// (TFLOP/s per device against memory per device, the pick marked, pruned layouts beyond the
/// device's memory with their reason).
@Suite struct PlanReportTests {
  @Test func thePlansTableAndChart() throws {
    let cluster = try Cluster.parse("nodes=4,devices=8,device=a100-80gb")
    let plan = try Planner(estimator: Estimator(model: try PlanModel.named("llama3-8b"), cluster: cluster), globalBatch: 64, precisions: [.bf16]).search(top: 50)
    let pick = try #require(plan.pick)
    let text = PlanSummary.text(plan, top: 5)
    #expect(text.contains("llama3-8b") && text.contains(pick.layout.description) && text.contains("pruned:"))
    #expect(text.split(separator: "\n").filter { $0.hasPrefix("  1  ") || $0.hasPrefix("  5  ") }.count == 2)
    let html = HTMLPage.report([], plans: [("plan.json", plan)])
    let parser = XMLParser(data: Data(html.utf8))
    #expect(parser.parse(), "well-formed: \(parser.parserError.map { "\($0)" } ?? "")")
    #expect(html.contains("the pick: " + pick.layout.description), "the pick is marked")
    let over = try #require(plan.pruned.first { $0.predicted != nil })
    #expect(html.contains(escaped(over.reason)), "a pruned layout shows its reason")
    #expect(html.contains("device memory"))
  }

  func escaped(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
      .replacingOccurrences(of: "\"", with: "&quot;")
  }
}
