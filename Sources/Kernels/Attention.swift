/// softmax(Q·Kᵀ·scale + mask)·V over tensors shaped (batch, heads, seq, headDim), row-major and
/// contiguous. K and V may have fewer heads than Q (grouped-query attention): query head h reads
/// key/value head h / (heads / kvHeads). Causal masking hides key j from query i when j > i.
public struct AttentionShape: Hashable, Codable, Sendable, CustomStringConvertible {
  public var batch: Int
  public var heads: Int
  public var kvHeads: Int
  public var seq: Int
  public var headDim: Int
  public var causal: Bool

  public init(batch: Int, heads: Int, kvHeads: Int? = nil, seq: Int, headDim: Int, causal: Bool) {
    self.batch = batch
    self.heads = heads
    self.kvHeads = kvHeads ?? heads
    self.seq = seq
    self.headDim = headDim
    self.causal = causal
  }

  public var description: String { "\(batch)x\(heads)x\(seq)x\(headDim)\(kvHeads != heads ? " kv\(kvHeads)" : "")\(causal ? " causal" : "")" }
  /// 1/√headDim.
  public var scale: Double { 1 / Double(headDim).squareRoot() }
  public var groupSize: Int { heads / kvHeads }
  public var qCount: Int { batch * heads * seq * headDim }
  public var kvCount: Int { batch * kvHeads * seq * headDim }

  /// Forward FLOPs as usually counted: 4·B·H·S²·D, half of it when causal.
  public var forwardFlops: Double {
    let full = 4 * Double(batch) * Double(heads) * Double(seq) * Double(seq) * Double(headDim)
    return causal ? full / 2 : full
  }

  /// Why the shape is not valid; nil when it is.
  public var problem: String? {
    if batch < 1 || heads < 1 || kvHeads < 1 || seq < 1 || headDim < 1 { return "every dimension must be at least 1 (got \(self))" }
    if heads % kvHeads != 0 { return "heads (\(heads)) must be a multiple of kvHeads (\(kvHeads))" }
    return nil
  }

  func qOffset(_ b: Int, _ h: Int) -> Int { (b * heads + h) * seq * headDim }
  func kvOffset(_ b: Int, _ h: Int) -> Int { (b * kvHeads + h / groupSize) * seq * headDim }
}

/// The reference: scores materialised, fp64 accumulation, exact softmax. For checking.
public enum ReferenceAttention {
  /// Returns O (like Q) and the log-sum-exp per query row (batch, heads, seq).
  public static func forward<T: BinaryFloatingPoint>(_ shape: AttentionShape, q: [T], k: [T], v: [T]) -> (o: [T], lse: [Double]) {
    let (s, d) = (shape.seq, shape.headDim)
    var o = [T](repeating: 0, count: shape.qCount)
    var lse = [Double](repeating: 0, count: shape.batch * shape.heads * s)
    for b in 0..<shape.batch {
      for h in 0..<shape.heads {
        let qo = shape.qOffset(b, h), ko = shape.kvOffset(b, h)
        for i in 0..<s {
          let keys = shape.causal ? i + 1 : s
          var scores = [Double](repeating: 0, count: keys)
          for j in 0..<keys {
            var dot = 0.0
            for c in 0..<d { dot += Double(q[qo + i * d + c]) * Double(k[ko + j * d + c]) }
            scores[j] = dot * shape.scale
          }
          let m = scores.reduce(-Double.infinity) { $0 > $1 ? $0 : $1 }
          var sum = 0.0
          for j in 0..<keys { sum += Foundation.exp(scores[j] - m) }
          if scores.contains(where: \.isNaN) { sum = .nan }
          lse[(b * shape.heads + h) * s + i] = m + Foundation.log(sum)
          for c in 0..<d {
            var value = 0.0
            for j in 0..<keys { value += Foundation.exp(scores[j] - m) / sum * Double(v[ko + j * d + c]) }
            o[qo + i * d + c] = T(value)
          }
        }
      }
    }
    return (o, lse)
  }

  /// Gradients of Σ dO∘O with respect to Q, K and V (dK and dV summed over the query heads that
  /// share a key/value head).
  public static func backward<T: BinaryFloatingPoint>(
    _ shape: AttentionShape, q: [T], k: [T], v: [T], dO: [T]
  ) -> (dQ: [T], dK: [T], dV: [T]) {
    let (s, d) = (shape.seq, shape.headDim)
    var dQ = [Double](repeating: 0, count: shape.qCount)
    var dK = [Double](repeating: 0, count: shape.kvCount)
    var dV = [Double](repeating: 0, count: shape.kvCount)
    for b in 0..<shape.batch {
      for h in 0..<shape.heads {
        let qo = shape.qOffset(b, h), ko = shape.kvOffset(b, h)
        for i in 0..<s {
          let keys = shape.causal ? i + 1 : s
          var p = [Double](repeating: 0, count: keys)
          for j in 0..<keys {
            var dot = 0.0
            for c in 0..<d { dot += Double(q[qo + i * d + c]) * Double(k[ko + j * d + c]) }
            p[j] = dot * shape.scale
          }
          let m = p.reduce(-Double.infinity) { $0 > $1 ? $0 : $1 }
          var sum = 0.0
          for j in 0..<keys {
            p[j] = Foundation.exp(p[j] - m)
            sum += p[j]
          }
          for j in 0..<keys { p[j] /= sum }
          // dP = dO·Vᵀ; dS = P ∘ (dP − Σ_j P·dP)
          var dP = [Double](repeating: 0, count: keys)
          var rowDot = 0.0
          for j in 0..<keys {
            var dot = 0.0
            for c in 0..<d { dot += Double(dO[qo + i * d + c]) * Double(v[ko + j * d + c]) }
            dP[j] = dot
            rowDot += p[j] * dot
          }
          for j in 0..<keys {
            let dS = p[j] * (dP[j] - rowDot) * shape.scale
            for c in 0..<d {
              dQ[qo + i * d + c] += dS * Double(k[ko + j * d + c])
              dK[ko + j * d + c] += dS * Double(q[qo + i * d + c])
              dV[ko + j * d + c] += p[j] * Double(dO[qo + i * d + c])
            }
          }
        }
      }
    }
    return (dQ.map { T($0) }, dK.map { T($0) }, dV.map { T($0) })
  }
}

import Foundation
