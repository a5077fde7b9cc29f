import Foundation
import Profile

/// A checkpoint as the trainer reads it: full (unsplit) tensors by name, the optimizer's moments
/// when the file has them, and the counters a resumed run continues from.
struct LoadedCheckpoint: Sendable {
  var parameters: [String: [Float]]
  var moments: (m: [String: [Float]], v: [String: [Float]])?
  var step: Int
  var updates: Int
  var lossScale: Double?
}

/// Checkpoints in safetensors. Tensor names and shapes (full, whatever the layout that saved them;
/// weights stored in × out, as the GEMMs read them):
///
/// - `embedding.weight` (vocabulary, hidden), tied to the output head; `position.weight` (seq,
///   hidden) with learned positions;
/// - per layer i: `layers.i.ln1.weight|bias` (hidden), `layers.i.attn.qkv.weight` (hidden,
///   hidden + 2·kvHeads·headDim: Q, K, V side by side) and `.bias`, `layers.i.attn.out.weight`
///   (hidden, hidden) and `.bias`, `layers.i.ln2.weight|bias`, `layers.i.mlp.up.weight` (hidden,
///   mlpHidden, or 2·mlpHidden for SwiGLU: gate, then up) and `.bias`,
///   `layers.i.mlp.down.weight` (mlpHidden, hidden) and `.bias`;
/// - `final_ln.weight|bias` (hidden);
/// - AdamW's moments as `optimizer.m.NAME` and `optimizer.v.NAME` (fp32).
///
/// Weights are F32; after a bf16 run they are BF16 (what the GEMMs multiplied) and the fp32
/// masters are kept as `optimizer.master.NAME`. Metadata: `scaletune.model` (the config as
/// JSON), `scaletune.step`, `scaletune.updates`, `scaletune.precision`, `scaletune.layout`,
/// `scaletune.lossScale`.
enum Checkpoint {
  /// Reads a checkpoint and checks it against `model`: every tensor present with its shape.
  static func load(_ path: String, model: ModelConfig) throws -> LoadedCheckpoint {
    let file = try SafeTensors.read(path)
    var parameters: [String: [Float]] = [:]
    var m: [String: [Float]] = [:], v: [String: [Float]] = [:]
    for view in ParameterLayout.fullModel(model) {
      let source = file.tensors["optimizer.master." + view.name] ?? file.tensors[view.name]
      guard let tensor = source else {
        throw CheckpointError.mismatch(path: path, reason: "it has no tensor \(view.name) (model \(model.name) needs \(view.fullShape)); was it saved for another model?")
      }
      guard tensor.shape == view.fullShape else {
        throw CheckpointError.mismatch(path: path, reason: "\(view.name) has shape \(tensor.shape); model \(model.name) needs \(view.fullShape)")
      }
      parameters[view.name] = tensor.floats
      for (prefix, target) in [("optimizer.m.", 0), ("optimizer.v.", 1)] {
        guard let moment = file.tensors[prefix + view.name] else { continue }
        guard moment.shape == view.fullShape else {
          throw CheckpointError.mismatch(path: path, reason: "\(prefix + view.name) has shape \(moment.shape); it needs \(view.fullShape)")
        }
        if target == 0 { m[view.name] = moment.floats } else { v[view.name] = moment.floats }
      }
    }
    let complete = m.count == parameters.count && v.count == parameters.count
    func integer(_ key: String) throws -> Int {
      guard let text = file.metadata[key] else { return 0 }
      guard let value = Int(text), value >= 0 else { throw CheckpointError.corrupt(path: path, reason: "metadata \(key) = \"\(text)\" is not a step count") }
      return value
    }
    return LoadedCheckpoint(
      parameters: parameters, moments: complete ? (m, v) : nil, step: try integer("scaletune.step"), updates: try integer("scaletune.updates"),
      lossScale: file.metadata["scaletune.lossScale"].flatMap(Double.init))
  }

  /// Full tensors gathered from the ranks, written once all have added their parts.
  final class Gatherer: @unchecked Sendable {
    private let lock = NSLock()
    var parameters: [String: [Float]] = [:]
    var m: [String: [Float]] = [:]
    var v: [String: [Float]] = [:]

    init(model: ModelConfig) {
      for view in ParameterLayout.fullModel(model) {
        parameters[view.name] = [Float](repeating: 0, count: view.fullCount)
        m[view.name] = parameters[view.name]
        v[view.name] = parameters[view.name]
      }
    }

    /// Adds a rank's parts: its parameters (data-parallel rank 0, and the embedding from the first
    /// stage) and its optimizer state over `range` of its flat buffer.
    func add<T: TrainScalar>(
      layout: ParameterLayout, params: UnsafePointer<T>, writesParameters: Bool, m mState: UnsafePointer<T>, v vState: UnsafePointer<T>,
      range: Range<Int>
    ) {
      lock.lock()
      defer { lock.unlock() }
      for view in layout.tensors {
        if view.name == "embedding.weight" && !layout.isFirst { continue }
        // A tensor every tensor-parallel rank holds whole is written by the first of them (each
        // element by one rank: what lets a job's processes sum their parts).
        if case .replicated = view.shard, layout.tpRank != 0 { continue }
        for i in view.offset..<view.offset + view.count {
          let local = i - view.offset
          let full = view.fullIndex(row: local / view.localColumns, column: local % view.localColumns, rank: layout.tpRank, of: layout.tp)
          if writesParameters { parameters[view.name]![full] = Float(params[i]) }
          if range.contains(i) {
            m[view.name]![full] = Float(mState[i - range.lowerBound])
            v[view.name]![full] = Float(vState[i - range.lowerBound])
          }
        }
      }
    }

    /// Sums every tensor over the job's processes: each filled the elements its ranks own, zero
    /// elsewhere, so the sum is each element as its owner wrote it.
    func combine(_ job: MPIJob) {
      for name in parameters.keys.sorted() {
        job.allReduce(&parameters[name]!)
        job.allReduce(&m[name]!)
        job.allReduce(&v[name]!)
      }
    }

    func write(to path: String, model: ModelConfig, metadata: [String: String], bf16Weights: Bool) throws {
      var file = SafeTensors()
      let views = ParameterLayout.fullModel(model)
      for view in views {
        file.add(view.name, SafeTensors.Tensor(floats: parameters[view.name]!, shape: view.fullShape, dtype: bf16Weights ? .bf16 : .f32))
      }
      if bf16Weights {
        for view in views { file.add("optimizer.master." + view.name, SafeTensors.Tensor(floats: parameters[view.name]!, shape: view.fullShape)) }
      }
      for view in views { file.add("optimizer.m." + view.name, SafeTensors.Tensor(floats: m[view.name]!, shape: view.fullShape)) }
      for view in views { file.add("optimizer.v." + view.name, SafeTensors.Tensor(floats: v[view.name]!, shape: view.fullShape)) }
      var meta = metadata
      if let json = try? JSONEncoder().encode(model) { meta["scaletune.model"] = String(decoding: json, as: UTF8.self) }
      file.metadata = meta
      try file.write(to: path)
    }
  }
}
