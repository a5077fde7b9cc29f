import Foundation
import Profile
import Testing

/// `tune plan` as a person runs it: the JSON's names (how the command is read from outside), an
/// exact layout, and clear refusals of bad input.
@Suite struct PlanCLITests {
  @Test func theJSONPlanHasThePickCandidatesAndPrunedUnderTheirNames() throws {
    let result = try tune(["plan", "--model", "llama3-70b", "--cluster", "nodes=8,devices=8,device=h100-sxm", "--global-batch", "128", "--top", "3", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let plan = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    let pick = try #require(plan["pick"] as? [String: Any])
    let layout = try #require(pick["layout"] as? [String: Any])
    for key in ["tp", "pp", "dp", "cp", "micro", "virtualStages", "recompute", "sequenceParallel", "zero"] { #expect(layout[key] != nil, "layout.\(key)") }
    let predicted = try #require(pick["predicted"] as? [String: Any])
    for key in ["stepSeconds", "tflopsPerDevice", "mfu", "memoryBytesPerDevice", "memoryParts", "timeParts"] { #expect(predicted[key] != nil, "predicted.\(key)") }
    #expect(pick["precision"] as? String != nil)
    #expect((plan["candidates"] as? [Any])?.count == 3)
    #expect(((plan["pruned"] as? [[String: Any]]) ?? []).allSatisfy { $0["reason"] is String })
    // 8 × 8 devices: the layout's product.
    let product = ["tp", "pp", "dp", "cp"].map { layout[$0] as? Int ?? 0 }.reduce(1, *)
    #expect(product == 64)
  }

  @Test func anExactLayoutIsEvaluatedAsWritten() throws {
    let result = try tune(["plan", "--model", "gpt3-175b", "--cluster", "nodes=128,devices=8,device=a100-80gb", "--global-batch", "1536",
      "--layout", "tp=8,pp=16,micro=192,recompute=full", "--precision", "bf16", "--json"])
    #expect(result.status == 0, "\(result.stderr)")
    let plan = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
    let layout = try #require((plan["pick"] as? [String: Any])?["layout"] as? [String: Any])
    #expect(layout["tp"] as? Int == 8 && layout["pp"] as? Int == 16 && layout["dp"] as? Int == 8 && layout["micro"] as? Int == 192)
    #expect(layout["recompute"] as? String == "full")
  }

  @Test(arguments: [
    (["--cluster", "nodes=2,devices=8,device=v100"], "unknown device \"v100\""),
    (["--cluster", "nodes=2,devices=8,device=a100-80gb", "--precision", "fp8"], "has no fp8 tensor units"),
    (["--cluster", "nodes=2,devices=8,device=h100-sxm", "--layout", "tp=3"], "does not divide"),
    (["--cluster", "nodes=2,devices=8,device=h100-sxm", "--layout", "tp=8,recompute=some"], "expected one of none, selective, full"),
  ])
  func badInputIsRefusedSayingWhatWouldBeRight(arguments: [String], message: String) throws {
    let result = try tune(["plan", "--model", "llama3-8b", "--global-batch", "64"] + arguments)
    #expect(result.status != 0 && result.stderr.contains(message), "\(result.stderr)")
  }
}

/// `tune plan --cluster this`: the node tuner's step model (one code path with the planner) on
/// this node's profile, checked against the trials `tune parallel` ran, and the profile's record
/// of that error. It trains, so it runs in the suite's second phase (Makefile).
@Suite struct PlanThisNodeTests {
  @Test func theTrialsOfAProfileCheckThePlannersPredictions() throws {
    let directory = try scratch()
    let tuned = try tune(
      ["parallel", "--model", "tiny", "--quick", "--ranks", "2", "--parallel-precision", "fp32,bf16", "--parallel-budget", "60", "--output",
       directory + "/p.json", "--quiet"], directory: directory, timeout: 300)
    #expect(tuned.status == 0, "\(tuned.stderr)")
    let section = try #require(try ProfileStore.read(directory + "/p.json").parallel)
    let recorded = try #require(section.predictionError, "the profile records the step model's error")
    #expect(recorded.trials == section.trials.filter { $0.status == .ok && $0.measuredStepSeconds != nil }.count)
    let plan = try tune(["plan", "--model", "tiny", "--cluster", "this", "--profile", directory + "/p.json"], directory: directory)
    #expect(plan.status == 0, "\(plan.stderr)")
    let rows = plan.stdout.split(separator: "\n").filter { $0.contains(" s  measured ") && $0.hasSuffix("%") }
    #expect(rows.count == recorded.trials, "a row per trial that ran: \(plan.stdout)")
    #expect(plan.stdout.contains("median error") && plan.stdout.contains("the planner's best"))
    let json = try tune(["plan", "--model", "tiny", "--cluster", "this", "--profile", directory + "/p.json", "--json"], directory: directory)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.stderr)")
    #expect((object["trials"] as? [Any])?.count == recorded.trials && object["predictionError"] is [String: Any] && object["candidates"] is [Any])
    let refused = try tune(["plan", "--model", "tiny", "--cluster", "this", "--profile", directory + "/missing.json"], directory: directory)
    #expect(refused.status != 0 && refused.stderr.contains("missing.json"), "\(refused.stderr)")
  }
}
