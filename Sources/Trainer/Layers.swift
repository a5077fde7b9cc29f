import Foundation
import Kernels

/// The model's elementwise layers as forward/backward pairs over flat row-major buffers (llm.c's
/// shape): N rows (tokens) of C columns. Forwards write their outputs; backwards accumulate
/// (+=) into the gradients of parameters and inputs unless said otherwise. Rows (or columns,
/// for parameter gradients, so that no two threads add into one element) are split over the
/// context's threads.
enum Layers {
  static let layerNormEpsilon = Recipe.layerNormEpsilon

  /// Splits 0..<count into the context's threads' shares and runs body on each.
  @inline(__always)
  static func split(_ count: Int, _ context: KernelContext, minimum: Int = 16, _ body: (Range<Int>) -> Void) {
    let threads = max(1, min(context.threads, count / max(1, minimum)))
    if threads == 1 {
      body(0..<count)
      return
    }
    context.parallel(threads) { t in
      let lo = count * t / threads, hi = count * (t + 1) / threads
      if lo < hi { body(lo..<hi) }
    }
  }

  // MARK: LayerNorm

  /// y = (x − mean)·rstd·g + b per row; mean and rstd (1/√(var + ε)) kept for the backward.
  // x, y: (N, C); g, b: (C); mean, rstd: (N)
  @_specialize(where T == Float)
  static func layerNormForward<T: TrainScalar>(
    y: UnsafeMutablePointer<T>, mean: UnsafeMutablePointer<T>, rstd: UnsafeMutablePointer<T>, x: UnsafePointer<T>,
    g: UnsafePointer<T>, b: UnsafePointer<T>, rows: Int, columns c: Int, context: KernelContext
  ) {
    split(rows, context) { range in
      for n in range {
        let row = x + n * c, out = y + n * c
        var sum: T = 0
        for i in 0..<c { sum += row[i] }
        let m = sum / T(c)
        var variance: T = 0
        for i in 0..<c {
          let d = row[i] - m
          variance += d * d
        }
        let s = 1 / T.sqrt(variance / T(c) + T(layerNormEpsilon))
        for i in 0..<c { out[i] = (row[i] - m) * s * g[i] + b[i] }
        mean[n] = m
        rstd[n] = s
      }
    }
  }

  /// dx += rstd·(dŷ − mean(dŷ) − x̂·mean(dŷ·x̂)) with dŷ = dy·g; dg += Σ dy·x̂; db += Σ dy.
  @_specialize(where T == Float)
  static func layerNormBackward<T: TrainScalar>(
    dx: UnsafeMutablePointer<T>, dg: UnsafeMutablePointer<T>, db: UnsafeMutablePointer<T>, dy: UnsafePointer<T>, x: UnsafePointer<T>,
    g: UnsafePointer<T>, mean: UnsafePointer<T>, rstd: UnsafePointer<T>, rows: Int, columns c: Int, context: KernelContext
  ) {
    split(rows, context) { range in
      for n in range {
        let xr = x + n * c, dyr = dy + n * c, dxr = dx + n * c
        let m = mean[n], s = rstd[n]
        var meanD: T = 0, meanDX: T = 0
        for i in 0..<c {
          let d = dyr[i] * g[i]
          meanD += d
          meanDX += d * (xr[i] - m) * s
        }
        meanD /= T(c)
        meanDX /= T(c)
        for i in 0..<c {
          let xhat = (xr[i] - m) * s
          dxr[i] += s * (dyr[i] * g[i] - meanD - xhat * meanDX)
        }
      }
    }
    split(c, context, minimum: 8) { range in
      for n in 0..<rows {
        let xr = x + n * c, dyr = dy + n * c
        let m = mean[n], s = rstd[n]
        for i in range {
          dg[i] += dyr[i] * (xr[i] - m) * s
          db[i] += dyr[i]
        }
      }
    }
  }

  // MARK: Bias

  /// y[n, :] += b.
  @_specialize(where T == Float)
  static func addBias<T: TrainScalar>(_ y: UnsafeMutablePointer<T>, _ b: UnsafePointer<T>, rows: Int, columns c: Int, context: KernelContext) {
    split(rows, context) { range in
      for n in range {
        let row = y + n * c
        for i in 0..<c { row[i] += b[i] }
      }
    }
  }

  /// db += Σ_n dy[n, :].
  @_specialize(where T == Float)
  static func biasBackward<T: TrainScalar>(_ db: UnsafeMutablePointer<T>, _ dy: UnsafePointer<T>, rows: Int, columns c: Int, context: KernelContext) {
    split(c, context, minimum: 8) { range in
      for n in 0..<rows {
        let row = dy + n * c
        for i in range { db[i] += row[i] }
      }
    }
  }

  // MARK: Activations

  static let geluScale = 0.7978845608028654  // √(2/π)

  /// y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) elementwise.
  @_specialize(where T == Float)
  static func geluForward<T: TrainScalar>(_ y: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, count: Int, context: KernelContext) {
    let s = T(geluScale), a = T(0.044715)
    split(count, context, minimum: 4096) { range in
      for i in range {
        let v = x[i]
        y[i] = 0.5 * v * (1 + T.tanh(s * (v + a * v * v * v)))
      }
    }
  }

  /// dx = dy·gelu'(x) (assigned, not accumulated).
  @_specialize(where T == Float)
  static func geluBackward<T: TrainScalar>(_ dx: UnsafeMutablePointer<T>, _ dy: UnsafePointer<T>, _ x: UnsafePointer<T>, count: Int, context: KernelContext) {
    let s = T(geluScale), a = T(0.044715)
    split(count, context, minimum: 4096) { range in
      for i in range {
        let v = x[i]
        let u = s * (v + a * v * v * v)
        let t = T.tanh(u)
        let sech2 = 1 - t * t
        dx[i] = dy[i] * (0.5 * (1 + t) + 0.5 * v * sech2 * s * (1 + 3 * a * v * v))
      }
    }
  }

  /// act[n, j] = silu(gate[n, j])·up[n, j], with the up projection's output (N, 2W) holding gate
  /// in columns 0..<W and up in W..<2W.
  @_specialize(where T == Float)
  static func swigluForward<T: TrainScalar>(_ act: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, rows: Int, width w: Int, context: KernelContext) {
    split(rows, context) { range in
      for n in range {
        let gate = x + n * 2 * w, up = gate + w, out = act + n * w
        for j in 0..<w {
          let g = gate[j]
          out[j] = g / (1 + T.exp(-g)) * up[j]
        }
      }
    }
  }

  /// dx (N, 2W) = (d gate, d up) from dact (assigned).
  @_specialize(where T == Float)
  static func swigluBackward<T: TrainScalar>(
    _ dx: UnsafeMutablePointer<T>, _ dact: UnsafePointer<T>, _ x: UnsafePointer<T>, rows: Int, width w: Int, context: KernelContext
  ) {
    split(rows, context) { range in
      for n in range {
        let gate = x + n * 2 * w, up = gate + w, d = dact + n * w
        let dGate = dx + n * 2 * w, dUp = dGate + w
        for j in 0..<w {
          let g = gate[j]
          let sigma = 1 / (1 + T.exp(-g))
          let silu = g * sigma
          dUp[j] = d[j] * silu
          dGate[j] = d[j] * up[j] * sigma * (1 + g * (1 - sigma))
        }
      }
    }
  }

  // MARK: Residual

  /// y = a + b.
  @_specialize(where T == Float)
  static func add<T: TrainScalar>(_ y: UnsafeMutablePointer<T>, _ a: UnsafePointer<T>, _ b: UnsafePointer<T>, count: Int, context: KernelContext) {
    split(count, context, minimum: 4096) { range in
      for i in range { y[i] = a[i] + b[i] }
    }
  }

  // MARK: Rotary positions

  /// cos and sin of position·10000^(−2i/d) for i < d/2: (seq, d/2) each.
  @_specialize(where T == Float)
  static func rotaryTable<T: TrainScalar>(seq: Int, headDim d: Int) -> (cos: [T], sin: [T]) {
    var cosines = [T](repeating: 0, count: seq * d / 2), sines = cosines
    for p in 0..<seq {
      for i in 0..<d / 2 {
        let angle = Double(p) * pow(10000, -2 * Double(i) / Double(d))
        cosines[p * d / 2 + i] = T(Foundation.cos(angle))
        sines[p * d / 2 + i] = T(Foundation.sin(angle))
      }
    }
    return (cosines, sines)
  }

  /// Rotates `heads` heads of `d` columns from column `start` of each row of x (N, width) in place,
  /// halves paired (x_i with x_{i+d/2}, the GPT-NeoX and ESM-2 convention); `inverse` applies the
  /// transpose (the backward). Row n is position n mod seq.
  @_specialize(where T == Float)
  static func rotary<T: TrainScalar>(
    _ x: UnsafeMutablePointer<T>, rows: Int, width: Int, start: Int, heads: Int, headDim d: Int, seq: Int,
    cos: UnsafePointer<T>, sin: UnsafePointer<T>, inverse: Bool, context: KernelContext
  ) {
    let half = d / 2
    split(rows, context) { range in
      for n in range {
        let p = n % seq
        let c = cos + p * half, s = sin + p * half
        for h in 0..<heads {
          let v = x + n * width + start + h * d
          for i in 0..<half {
            let (a, b) = (v[i], v[i + half])
            let sn = inverse ? -s[i] : s[i]
            v[i] = a * c[i] - b * sn
            v[i + half] = a * sn + b * c[i]
          }
        }
      }
    }
  }

  // MARK: Cross-entropy

  /// Softmax cross-entropy over logits (N, V) in place: each counted row's logits become
  /// dlogits = (softmax − onehot)·weight, every other row zero. Returns the sum of the counted
  /// rows' losses (−log p[target]) and how many rows were not finite.
  @_specialize(where T == Float)
  static func crossEntropy<T: TrainScalar>(
    logits: UnsafeMutablePointer<T>, targets: UnsafePointer<Int32>, counted: UnsafePointer<Bool>, rows: Int, vocabulary v: Int,
    weight: T, context: KernelContext
  ) -> (loss: Double, nonFinite: Int) {
    let threads = max(1, min(context.threads, rows / 16))
    var partial = [(Double, Int)](repeating: (0, 0), count: threads)
    partial.withUnsafeMutableBufferPointer { sums in
      context.parallel(threads) { t in
        var loss = 0.0, bad = 0
        for n in rows * t / threads..<rows * (t + 1) / threads {
          let row = logits + n * v
          guard counted[n] else {
            row.update(repeating: 0, count: v)
            continue
          }
          var largest = row[0]
          for j in 1..<v where row[j] > largest { largest = row[j] }
          let target = Int(targets[n])
          let shifted = row[target] - largest
          var sum: T = 0
          for j in 0..<v {
            let e = T.exp(row[j] - largest)
            row[j] = e
            sum += e
          }
          let l = Double(T.log(sum) - shifted)
          if !l.isFinite { bad += 1 }
          loss += l
          let scale = weight / sum
          for j in 0..<v { row[j] *= scale }
          row[target] -= weight
        }
        sums[t] = (loss, bad)
      }
    }
    return partial.reduce((0.0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
  }
}
