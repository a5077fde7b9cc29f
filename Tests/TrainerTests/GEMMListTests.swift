import Profile
import Testing

@testable import Trainer

/// The GEMMs a step runs are exactly the list the tuner tunes and the memory and cost models
/// read (`GEMMShapes.rank`), shape by shape (m, n, k, transposes, β), rank by rank, for several
/// layouts and both model kinds: a product added to the trainer and not to the list, or the other
/// way round, fails here.
@Suite struct GEMMListTests {
  static func key(_ p: GEMMShapes.Product) -> String {
    "\(p.m)x\(p.n)x\(p.k) \(p.transA ? "T" : "N")\(p.transB ? "T" : "N") β=\(p.beta)"
  }

  /// Counts of each product key.
  static func multiset(_ products: [GEMMShapes.Product]) -> [String: Int] {
    products.reduce(into: [:]) { $0[key($1), default: 0] += 1 }
  }

  @Test(arguments: ["tiny", "tiny-masked", "tiny-features"], ["micro=2", "tp=2", "pp=2,micro=2", "dp=2,tp=2,micro=2,zero=1", "tp=2,pp=2,micro=2,recompute=on"])
  func theGEMMsThatRunAreTheList(model name: String, layout text: String) throws {
    let model = try tinyVariant(name)
    let layout = try ParallelLayout.parse(text)
    var options = TrainingOptions(model: model, layout: layout, batch: 8, steps: 2, threadsPerRank: 1)
    if model.features != nil { options.data = .features(outlierRate: 0, outlierScale: 1) }
    options.logsGEMMs = true
    let session = TrainingSession(try TrainingRun(options))
    while session.step() != nil {}
    let log = session.gemmLog
    #expect(log.count == layout.ranks)
    let tokens = options.sequencesPerMicroBatch * model.seq
    for (index, ran) in log.enumerated() {
      // Ranks are numbered (p·dp + d)·tp + t.
      let t = index % layout.tp, p = index / (layout.dp * layout.tp)
      let parameters = ParameterLayout(model: model, tp: layout.tp, tpRank: t, stage: p, stages: layout.pp)
      let list = GEMMShapes.rank(model, layout: parameters, tokens: tokens)
      // Per step and micro-batch the whole list; with recomputation each layer's forward again.
      var expected: [GEMMShapes.Product] = []
      for _ in 0..<(options.steps * layout.micro) {
        expected += list
        if layout.recompute {
          expected += list.filter(\.recomputed)
        }
      }
      #expect(Self.multiset(ran) == Self.multiset(expected), "rank \(index) of \(text), \(name): ran \(Self.multiset(ran)), listed \(Self.multiset(expected))")
    }
  }

  /// What `tune gemm --model` tunes is the distinct problems of one rank at tp = 1, pp = 1.
  @Test(arguments: ["tiny", "tiny-masked", "tiny-features", "small", "gpt2-124m"])
  func theTunersListIsOneRanksProducts(model name: String) throws {
    let model = name.hasPrefix("tiny") ? try tinyVariant(name) : try ModelConfig.named(name)
    let tokens = 4 * model.seq
    let rank = GEMMShapes.rank(model, layout: ParameterLayout(model: model), tokens: tokens)
    let tuned = Set(model.trainingGEMMs(tokens: tokens).map { "\($0.m)x\($0.n)x\($0.k) \($0.transA ? "T" : "N")\($0.transB ? "T" : "N") β=\($0.beta)" })
    #expect(tuned == Set(rank.map(Self.key)), "tuned \(tuned.sorted()), ran \(Set(rank.map(Self.key)).sorted())")
  }
}
