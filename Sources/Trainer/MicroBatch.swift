/// One micro-batch: `sequences` windows of seq tokens, flattened (token n is position n mod seq of
/// sequence n / seq). `targets[n]` is what position n predicts (the next token for a causal LM,
/// the original token for a masked LM) and `counted[n]` whether its loss counts.
public struct MicroBatch: Sendable, Equatable {
  public var sequences: Int
  public var inputs: [Int32]
  public var targets: [Int32]
  public var counted: [Bool]
  /// A model with continuous inputs: position n's values at n·F ..< (n + 1)·F (else empty).
  public var features: [Float]

  public init(sequences: Int, inputs: [Int32], targets: [Int32], counted: [Bool], features: [Float] = []) {
    self.sequences = sequences
    self.inputs = inputs
    self.targets = targets
    self.counted = counted
    self.features = features
  }

  public var countedTokens: Int { counted.reduce(0) { $0 + ($1 ? 1 : 0) } }

  /// Sequences lo..<hi of this batch.
  public func slice(_ range: Range<Int>, seq: Int) -> MicroBatch {
    let tokens = range.lowerBound * seq..<range.upperBound * seq
    let f = inputs.isEmpty ? 0 : features.count / inputs.count
    return MicroBatch(
      sequences: range.count, inputs: Array(inputs[tokens]), targets: Array(targets[tokens]), counted: Array(counted[tokens]),
      features: Array(features[tokens.lowerBound * f..<tokens.upperBound * f]))
  }
}
