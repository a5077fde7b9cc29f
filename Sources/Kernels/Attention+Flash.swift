import Profile
import Foundation
import Platform

/// FlashAttention-2-style attention in fp32: query blocks of Br rows against key/value blocks of
/// Bc rows with an online softmax (running max and sum), so the extra memory per thread is
/// O((Br + Bc)·headDim + Br·Bc), never O(seq²). Causal blocks that are entirely masked are
/// skipped. The backward recomputes each block's probabilities from the saved log-sum-exp.
public enum FlashAttention {
  @inline(__always)
  static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
      acc0.addProduct(UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self), UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self))
      acc1.addProduct(UnsafeRawPointer(a + i + 8).loadUnaligned(as: SIMD8<Float>.self), UnsafeRawPointer(b + i + 8).loadUnaligned(as: SIMD8<Float>.self))
      i += 16
    }
    var sum = (acc0 + acc1).sum()
    while i < n {
      sum += a[i] * b[i]
      i += 1
    }
    return sum
  }

  /// Runs body(thread, threads) on min(threads, items) of the context's threads.
  static func run(items: Int, threads: Int, context: KernelContext, _ body: (Int, Int) -> Void) {
    let count = max(1, min(threads, items))
    context.parallel(count) { body($0, count) }
  }

  /// The fp32 micro-kernel named (the backward's and the gemm backend's; a bf16 kernel's name,
  /// which only the forward takes, gives the default fp32 one).
  static func kernel(_ parameters: FlashParameters) throws -> MicroKernel<Float> {
    let features = ISAFeatures.current
    let usable = Float.usableMicroKernels(features)
    if let name = parameters.microKernel, BF16MicroKernel.named(name) == nil {
      guard let kernel = usable.first(where: { $0.name == name }) else {
        throw KernelError.unknownMicroKernel(name: name, known: usable.map(\.name))
      }
      return kernel
    }
    return try FlashEngine.defaultKernel(features)
  }

  /// o: like q; lse: (batch, heads, seq), the log-sum-exp of each query row's scaled scores.
  /// Q, K and V come as fp32 in memory or stored in a lower precision (decoded one head at a
  /// time before its tiles are packed); O and the log-sum-exp come out in fp32.
  ///
  /// Both block products run on the native GEMM's micro-kernels, transposed so that nothing is
  /// repacked between them: Sᵀ = K_block·Q_blockᵀ (keys × queries), the online softmax along rows
  /// of Sᵀ (eight queries per vector) writing Pᵀ straight into the packed B operand of
  /// Oᵀ += Vᵀ·Pᵀ, and V carrying an extra row of ones, so that row D of Oᵀ is the running sum. Each
  /// thread takes whole (batch, head) pairs and packs that head's K and V once (O(seq·headDim)
  /// extra memory); Bc is rounded up to a multiple of the micro-kernel's MR so key blocks start
  /// on panel boundaries, and a causal block stops at its last query's key.
  public static func forward(
    _ shape: AttentionShape, _ operands: AttentionOperands, o: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>,
    oLayout: AttentionLayout? = nil, parameters: FlashParameters, in context: KernelContext
  ) throws {
    let (qInput, kInput, vInput) = (operands.q, operands.k, operands.v)
    if let problem = shape.problem { throw KernelError.invalidParameters(problem) }
    let output = try AttentionOutput(o, shape: shape, layout: oLayout, name: "o", heads: shape.heads)
    guard parameters.br >= 1, parameters.bc >= 1, parameters.threads >= 1, parameters.querySplit >= 1 else {
      throw KernelError.invalidParameters("br, bc, threads and split must be at least 1 (got \(parameters))")
    }
    try context.check(threads: parameters.threads, for: "the flash forward")
    let engine = try FlashEngine.named(parameters.microKernel)
    let (mr, nr) = (engine.mr, engine.nr)
    let (s, d, br) = (shape.seq, shape.headDim, parameters.br)
    let bc = (parameters.bc + mr - 1) / mr * mr
    let keyBlocks = (s + bc - 1) / bc
    let split = parameters.querySplit
    let items = shape.batch * shape.heads * split
    let scale = Float(shape.scale)
    let lsePointer = SendablePointer(lse)
    let roundedBr = (br + nr - 1) / nr * nr
    // Rows of Oᵀ: the head dim, then one more whose V row is all ones, so that row d of Oᵀ is each
    // query's running sum of probabilities (rescaled with the rest); rounded up to MR.
    let oRows = (d + 1 + mr - 1) / mr * mr
    let roundedKeys = keyBlocks * bc
    run(items: items, threads: parameters.threads, context: context) { thread, threads in
      let counts = [
        bc * roundedBr, oRows * roundedBr, roundedBr * d, roundedBr * bc, roundedKeys * d, keyBlocks * oRows * bc, mr * nr, max(d, bc),
        roundedBr, roundedBr, roundedBr, qInput.decodeCount, kInput.decodeCount, vInput.decodeCount,
        // The kernel's own copies of Q, P, K and V (bf16 kernels only).
        engine.copyFloats(roundedBr * engine.padded(d)), engine.copyFloats(roundedBr * engine.padded(bc)),
        engine.copyFloats(roundedKeys * engine.padded(d)), engine.copyFloats(keyBlocks * oRows * engine.padded(bc)),
      ]
      context.withFloats(thread: thread, counts: counts) { buffers in
        // scoresT: keys × queries, ld = roundedBr; accT: Oᵀ and the sums, ld = roundedBr.
        let (scoresT, accT, qPacked, pPacked, kPacked, vPacked) = (buffers[0], buffers[1], buffers[2], buffers[3], buffers[4], buffers[5])
        let (edge, scratch, m, mNew, correction) = (buffers[6], buffers[7], buffers[8], buffers[9], buffers[10])
        let (qBuffer, kBuffer, vBuffer) = (buffers[11], buffers[12], buffers[13])
        let (qCopy, pCopy, kCopy, vCopy) = (buffers[14], buffers[15], buffers[16], buffers[17])
        engine.onThread(thread, in: context) {
          for item in stride(from: thread, to: items, by: threads) {
            // Item: (batch, head) and its share of the query blocks (every split-th one, so that
            // causal shares get equal work).
            let (head, share) = (item / split, item % split)
            let (b, h) = (head / shape.heads, head % shape.heads)
            let kvHead = shape.kvHead(b, h)
            let (kBase, kLD) = kInput.head(kvHead, buffer: kBuffer), (vBase, vLD) = vInput.head(kvHead, buffer: vBuffer)
            let (qBase, qLD) = qInput.head(head, buffer: qBuffer)
            let (oBase, oLD) = output.head(head)
            // K as MR-key panels of depth D (the A operand of Sᵀ); per key block, Vᵀ and its row of
            // ones as MR-row panels of depth Bc (the A operand of Oᵀ += Vᵀ·Pᵀ).
            DenseSource(MatrixPointer(kBase, ld: kLD), transposed: false).pack(rows: 0, count: s, k: 0, depth: d, width: mr, into: kPacked, scratch: scratch)
            let kOperand = engine.operand(kPacked, count: s, width: mr, depth: d, isA: true, copy: kCopy)
            // V's operands: the fp32 panels themselves, or the kernel's copies of them.
            let vOperands: UnsafeMutableRawPointer = if case .bf16 = engine { UnsafeMutableRawPointer(vCopy) } else { UnsafeMutableRawPointer(vPacked) }
            for block in 0..<keyBlocks {
              let k0 = block * bc, cols = min(bc, s - k0)
              let panels = vPacked + block * oRows * bc
              DenseSource(MatrixPointer(vBase + k0 * vLD, ld: vLD), transposed: true).pack(rows: 0, count: d, k: 0, depth: cols, width: mr, into: panels, scratch: scratch)
              let onesPanel = panels + (d / mr) * cols * mr
              if d % mr == 0 { onesPanel.initialize(repeating: 0, count: cols * mr) }
              for p in 0..<cols { onesPanel[p * mr + d % mr] = 1 }
              if case .bf16 = engine {
                let copy = engine.advance(vOperands, panels: block * oRows / mr, width: mr, depth: bc).assumingMemoryBound(to: Float.self)
                _ = engine.operand(panels, count: oRows, width: mr, depth: cols, isA: true, copy: copy)
              }
            }
            for q0 in stride(from: share * br, to: s, by: br * split) {
              let rows = min(br, s - q0)
              // Queries run in whole NR panels; the padding ones (zero rows of Q) are never written out.
              let columns = (rows + nr - 1) / nr * nr
              DenseSource(MatrixPointer(qBase + q0 * qLD, ld: qLD), transposed: false)
                .pack(rows: 0, count: rows, k: 0, depth: d, width: nr, into: qPacked, scratch: scratch)
              let qOperand = engine.operand(qPacked, count: columns, width: nr, depth: d, isA: false, copy: qCopy)
              accT.initialize(repeating: 0, count: oRows * roundedBr)
              m.initialize(repeating: -.infinity, count: columns)
              let lastKey = shape.causal ? q0 + rows - 1 : s - 1
              for k0 in stride(from: 0, through: lastKey, by: bc) {
                // Keys past the block's last query (causal) are hidden from all of it: not computed.
                let packedCols = min(bc, s - k0), cols = min(packedCols, lastKey + 1 - k0)
                // Sᵀ = scale · K_block · Q_blockᵀ
                engine.multiply(
                  a: engine.advance(kOperand, panels: k0 / mr, width: mr, depth: d), b: qOperand, m: cols, n: columns, depth: d,
                  c: MutableMatrixPointer(scoresT, ld: roundedBr), alpha: scale, beta: 0, edge: edge)
                if shape.causal && k0 + cols - 1 > q0 {
                  // Key k0 + c is hidden from queries before it.
                  for c in 0..<cols where k0 + c > q0 {
                    let row = scoresT + c * roundedBr
                    for r in 0..<min(rows, k0 + c - q0) { row[r] = -.infinity }
                  }
                }
                let moved = softmaxBlock(
                  scoresT, ld: roundedBr, keys: cols, queries: columns, panelWidth: nr, m: m, mNew: mNew, correction: correction, into: pPacked)
                if moved {
                  for i in 0..<oRows {
                    let row = accT + i * roundedBr
                    for r in 0..<columns { row[r] *= correction[r] }
                  }
                }
                // Oᵀ += Vᵀ·Pᵀ: Pᵀ is already packed as the B operand's query panels.
                let vBlock = engine.advance(vOperands, panels: (k0 / bc) * oRows / mr, width: mr, depth: bc)
                engine.multiply(
                  a: vBlock, b: engine.operand(pPacked, count: columns, width: nr, depth: cols, isA: false, copy: pCopy), m: oRows, n: columns,
                  depth: cols, c: MutableMatrixPointer(accT, ld: roundedBr), alpha: 1, beta: 1, edge: edge, aDepth: packedCols)
              }
              let sums = accT + d * roundedBr
              for r in 0..<rows {
                let out = oBase + (q0 + r) * oLD
                let inverse = 1 / sums[r]
                for i in 0..<d { out[i] = accT[i * roundedBr + r] * inverse }
                lsePointer.base[(b * shape.heads + h) * s + q0 + r] = m[r] + Foundation.log(sums[r])
              }
            }
          }
        }
      }
    }
  }

  /// One block of the online softmax on Sᵀ (keys × queries, row stride `ld`): per query, the new
  /// running max over this block's keys, the factor that rescales the query's accumulator, and
  /// Pᵀ = e^(Sᵀ − max) written straight into `packed` as the B operand of Oᵀ += Vᵀ·Pᵀ wants it
  /// (`panelWidth` queries per panel, depth `keys`). Every loop runs along queries, so it
  /// vectorises; the running sum is not kept here (V's row of ones accumulates it in Oᵀ). NaN
  /// propagates: a NaN score's probability is NaN, and so are its query's output and sum.
  /// Returns whether any factor differs from 1.
  @inline(__always)
  static func softmaxBlock(
    _ scoresT: UnsafeMutablePointer<Float>, ld: Int, keys: Int, queries: Int, panelWidth: Int, m: UnsafeMutablePointer<Float>,
    mNew: UnsafeMutablePointer<Float>, correction: UnsafeMutablePointer<Float>, into packed: UnsafeMutablePointer<Float>
  ) -> Bool {
    for r in 0..<queries { mNew[r] = m[r] }
    for c in 0..<keys {
      let row = scoresT + c * ld
      // One vmaxps a vector: a NaN score is passed over here, but its own probability is NaN,
      // which the products carry into the query's output and sum for good.
      for r in 0..<queries { mNew[r] = row[r] > mNew[r] ? row[r] : mNew[r] }
    }
    var moved: UInt32 = 0
    for r in 0..<queries {
      // Before a query's first visible key its max is −∞ and its accumulator still 0.
      let factor = m[r] == -.infinity ? 0 : fastExp(m[r] - mNew[r])
      correction[r] = factor
      moved |= factor == 1 ? 0 : 1
    }
    for c in 0..<keys {
      // In place along the whole row (many independent vectors for the exp's latency), then dealt
      // out to the panels eight at a time.
      let row = scoresT + c * ld
      // A hidden key (−∞) gets exactly 0, even for a query whose max is still −∞.
      for r in 0..<queries { row[r] = softmaxWeight(row[r], mNew[r]) }
      for panel in stride(from: 0, to: queries, by: panelWidth) {
        let out = packed + panel * keys + c * panelWidth
        var r = 0
        while r + 8 <= panelWidth {
          UnsafeMutableRawPointer(out + r).storeBytes(of: UnsafeRawPointer(row + panel + r).loadUnaligned(as: SIMD8<Float>.self), as: SIMD8<Float>.self)
          r += 8
        }
        while r < panelWidth {
          out[r] = row[panel + r]
          r += 1
        }
      }
    }
    m.update(from: mNew, count: queries)
    return moved != 0
  }

  /// e^(score − shift), exactly 0 for a hidden key (−∞), even when the shift is −∞ too. Both
  /// operands are read unconditionally: under the select the compiler would mask the load.
  @inline(__always)
  static func softmaxWeight(_ score: Float, _ shift: Float) -> Float {
    let p = softmaxExp(score - shift)
    return score == -.infinity ? 0 : p
  }
}

struct SendablePointer: @unchecked Sendable {
  let base: UnsafeMutablePointer<Float>
  init(_ base: UnsafeMutablePointer<Float>) { self.base = base }
}
