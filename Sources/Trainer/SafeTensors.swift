import Foundation
import NumberFormats
import Profile

/// The safetensors format (Hugging Face's): an 8-byte little-endian header length, a JSON header
/// mapping each tensor's name to its dtype, shape and byte range in the data that follows (and an
/// optional string-to-string `__metadata__`), then the data, row-major, little-endian. Written
/// atomically (a temporary file renamed over the target); read with every offset checked.
public struct SafeTensors: Sendable {
  public enum DType: String, Sendable {
    case f32 = "F32", bf16 = "BF16"
    var size: Int { self == .f32 ? 4 : 2 }
  }

  public struct Tensor: Sendable {
    public var dtype: DType
    public var shape: [Int]
    public var bytes: Data

    public var count: Int { shape.reduce(1, *) }

    /// The values as fp32.
    public var floats: [Float] {
      bytes.withUnsafeBytes { raw in
        switch dtype {
        case .f32: return (0..<count).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self))) }
        case .bf16: return (0..<count).map { Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * 2, as: UInt16.self))) << 16) }
        }
      }
    }

    public init(floats: [Float], shape: [Int], dtype: DType = .f32) {
      self.dtype = dtype
      self.shape = shape
      var data = Data(capacity: floats.count * dtype.size)
      for value in floats {
        switch dtype {
        case .f32: withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        case .bf16: withUnsafeBytes(of: BFloat16(value).bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
      }
      bytes = data
    }

    init(dtype: DType, shape: [Int], bytes: Data) {
      self.dtype = dtype
      self.shape = shape
      self.bytes = bytes
    }
  }

  public var tensors: [String: Tensor] = [:]
  /// Names in the order they are written.
  public var order: [String] = []
  public var metadata: [String: String] = [:]

  public init() {}

  public mutating func add(_ name: String, _ tensor: Tensor) {
    if tensors[name] == nil { order.append(name) }
    tensors[name] = tensor
  }

  /// Writes the file atomically: nothing is left at `path` but the old file or the whole new one.
  public func write(to path: String) throws {
    var header: [String: Any] = [:]
    var offset = 0
    for name in order {
      let tensor = tensors[name]!
      header[name] = ["dtype": tensor.dtype.rawValue, "shape": tensor.shape, "data_offsets": [offset, offset + tensor.bytes.count]]
      offset += tensor.bytes.count
    }
    if !metadata.isEmpty { header["__metadata__"] = metadata }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    // Padded with spaces to a multiple of 8, so that the data starts aligned.
    while json.count % 8 != 0 { json.append(0x20) }
    var file = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
    file.append(json)
    for name in order { file.append(tensors[name]!.bytes) }
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: directory.isEmpty ? "." : directory, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw CheckpointError.unwritable(path: path, reason: "its directory \(directory) does not exist")
    }
    do {
      try AtomicFile.write(file, to: path)
    } catch {
      throw CheckpointError.unwritable(path: path, reason: "\(error)")
    }
  }

  /// Reads and checks a file: the header's length, its JSON, every dtype, shape and byte range.
  public static func read(_ path: String) throws -> SafeTensors {
    let data: Data
    do {
      data = try BoundedFile.read(path, limit: 64 << 30)
    } catch {
      throw CheckpointError.unreadable(path: path, reason: BoundedFile.reason(error, expected: "a .safetensors file"))
    }
    guard data.count >= 8 else { throw CheckpointError.corrupt(path: path, reason: "\(data.count) bytes: truncated before the 8-byte header length") }
    let length = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    guard length <= UInt64(data.count - 8), length < 100 << 20 else {
      throw CheckpointError.corrupt(path: path, reason: "the header claims \(length) bytes but the file has \(data.count - 8) after the length: truncated or not safetensors")
    }
    let headerData = data.subdata(in: 8..<8 + Int(length))
    guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
      throw CheckpointError.corrupt(path: path, reason: "the header is not a JSON object")
    }
    let start = 8 + Int(length)
    let available = data.count - start
    var result = SafeTensors()
    var ranges: [(Int, Int, String)] = []
    for (name, value) in header {
      if name == "__metadata__" {
        guard let metadata = value as? [String: String] else { throw CheckpointError.corrupt(path: path, reason: "__metadata__ must map strings to strings") }
        result.metadata = metadata
        continue
      }
      guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String, let shape = entry["shape"] as? [Int],
        let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
      else { throw CheckpointError.corrupt(path: path, reason: "tensor \(name): expected dtype, shape and data_offsets [begin, end]") }
      guard let dtype = DType(rawValue: dtypeName) else {
        throw CheckpointError.corrupt(path: path, reason: "tensor \(name): dtype \(dtypeName) is not supported (F32 or BF16)")
      }
      let (begin, end) = (offsets[0], offsets[1])
      guard shape.allSatisfy({ $0 >= 0 }), begin >= 0, begin <= end else { throw CheckpointError.corrupt(path: path, reason: "tensor \(name): invalid shape or offsets") }
      guard end <= available else {
        throw CheckpointError.corrupt(path: path, reason: "tensor \(name) ends at byte \(end) of the data, which has \(available): the file is truncated")
      }
      guard end - begin == shape.reduce(1, *) * dtype.size else {
        throw CheckpointError.corrupt(path: path, reason: "tensor \(name): \(end - begin) bytes for shape \(shape) of \(dtypeName)")
      }
      ranges.append((begin, end, name))
      result.tensors[name] = Tensor(dtype: dtype, shape: shape, bytes: data.subdata(in: start + begin..<start + end))
    }
    ranges.sort { $0.0 < $1.0 }
    var covered = 0
    for (begin, end, name) in ranges {
      guard begin == covered else { throw CheckpointError.corrupt(path: path, reason: "tensor \(name) starts at \(begin); the data before it ends at \(covered) (overlap or hole)") }
      covered = end
    }
    guard covered == available else { throw CheckpointError.corrupt(path: path, reason: "\(available - covered) bytes after the last tensor") }
    result.order = ranges.map(\.2)
    return result
  }
}

public enum CheckpointError: Error, Equatable, CustomStringConvertible {
  case unreadable(path: String, reason: String)
  case unwritable(path: String, reason: String)
  case corrupt(path: String, reason: String)
  case mismatch(path: String, reason: String)

  public var description: String {
    switch self {
    case .unreadable(let path, let reason): return "checkpoint \(path): \(reason)"
    case .unwritable(let path, let reason): return "cannot save the checkpoint to \(path): \(reason)"
    case .corrupt(let path, let reason): return "checkpoint \(path) is corrupt: \(reason)"
    case .mismatch(let path, let reason): return "checkpoint \(path) does not fit this model: \(reason)"
    }
  }
}
