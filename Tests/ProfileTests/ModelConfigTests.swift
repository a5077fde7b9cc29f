import Foundation
import Testing

@testable import Profile

@Suite struct ModelConfigTests {
  @Test func namedModelsHaveTheShapesTheyAreNamedFor() throws {
    let small = try ModelConfig.named("small")
    #expect((small.vocabulary, small.hidden, small.heads, small.layers, small.seq, small.mlpHidden) == (256, 512, 8, 6, 512, 2048))
    let esm = try ModelConfig.named("esm2-8m")
    #expect(esm.kind == .maskedLM && esm.vocabulary == 33 && esm.hidden == 320 && esm.heads == 20 && esm.mlpHidden == 1280 && esm.positions == .rotary)
    let gpt2 = try ModelConfig.named("gpt2-124m")
    #expect(gpt2.vocabulary == 50257 && gpt2.layers == 12 && gpt2.hidden == 768)
    for config in ModelConfig.named { #expect(config.problem == nil, "\(config.name)") }
    #expect(throws: ModelConfigError.self) { try ModelConfig.named("gpt5") }
  }

  @Test func smallTrainsWithTheseGEMMs() throws {
    let gemms = try ModelConfig.named("small").trainingGEMMs(tokens: 4096)
    func has(_ m: Int, _ n: Int, _ k: Int, _ ta: Bool, _ tb: Bool) -> Bool { gemms.contains { ($0.m, $0.n, $0.k, $0.transA, $0.transB) == (m, n, k, ta, tb) } }
    // QKV forward, its dX and dW; MLP up and down; the tied head.
    #expect(has(4096, 1536, 512, false, false) && has(4096, 512, 1536, false, true) && has(512, 1536, 4096, true, false))
    #expect(has(4096, 2048, 512, false, false) && has(4096, 512, 2048, false, false) && has(2048, 512, 4096, true, false))
    #expect(has(4096, 256, 512, false, true) && has(256, 512, 4096, true, false))
    #expect(gemms.filter { $0.transA }.allSatisfy { $0.beta == 1 }, "weight gradients accumulate over micro-batches")
    #expect(Set(gemms.map { [$0.m, $0.n, $0.k, $0.transA ? 1 : 0, $0.transB ? 1 : 0] }).count == gemms.count)
  }

  @Test func aBadModelFileIsRefusedNamingTheField() throws {
    let directory = NSTemporaryDirectory() + "scaletune-model-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    func write(_ text: String) throws -> String {
      let path = directory + "/m\(text.hashValue).json"
      try Data(text.utf8).write(to: URL(fileURLWithPath: path))
      return path
    }
    let good = try ModelConfig.load(try write(#"{"name": "mine", "vocabulary": 100, "hidden": 64, "heads": 4, "layers": 2, "seq": 32, "mlp": "swiglu"}"#))
    #expect(good.mlp == .swiglu && good.mlpHidden == 256 && good.kvHeads == 4)
    for (text, field) in [
      (#"{"vocabulary": 100, "hidden": 64, "heads": 5, "layers": 2, "seq": 32}"#, "heads"),
      (#"{"vocabulary": 100, "hidden": 64, "heads": 4, "layers": 2}"#, "seq"),
      (#"{"vocabulary": 100, "hidden": -64, "heads": 4, "layers": 2, "seq": 32}"#, "hidden"),
      (#"{"vocabulary": 100, "hidden": 64, "heads": 4, "layers": 2.5, "seq": 32}"#, "layers"),
      (#"{"vocabulary": 100, "hidden": "big", "heads": 4, "layers": 2, "seq": 32}"#, "hidden"),
      (#"{"vocabulary": 100, "hidden": 64, "heads": 4, "layers": 2, "seq": 32, "mlp": "relu"}"#, "mlp"),
      (#"{"vocabulary": 100, "hidden": 64, "heads": 4, "layers": 2, "seq": 32, "depth": 3}"#, "depth"),
      (#"[1, 2]"#, "(file)"),
    ] {
      let path = try write(text)
      let error = #expect(throws: ModelConfigError.self) { try ModelConfig.load(path) }
      #expect(error == .invalid(path: path, field: field, expected: {
        if case .invalid(_, _, let expected)? = error { return expected } else { return "" }
      }()), "\(text): \(String(describing: error))")
    }
    #expect(throws: ModelConfigError.unreadable(path: directory + "/none.json", reason: "no such file")) { try ModelConfig.load(directory + "/none.json") }
  }
}
