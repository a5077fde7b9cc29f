/// Every number format ScaleTune can store operands in, as named on the command line and in profiles.
public enum Precision: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
  case fp64, fp32, fp16, bf16
  case fp8e4m3 = "fp8-e4m3"
  case fp8e5m2 = "fp8-e5m2"
  case mxfp8e4m3 = "mxfp8-e4m3"
  case mxfp8e5m2 = "mxfp8-e5m2"
  case mxfp6e2m3 = "mxfp6-e2m3"
  case mxfp6e3m2 = "mxfp6-e3m2"
  case mxfp4
  case nvfp4

  public var description: String { rawValue }

  public enum ParseError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    public var description: String {
      guard case .unknown(let name) = self else { return "" }
      return "unknown precision \"\(name)\"; expected one of: \(Precision.allCases.map(\.rawValue).joined(separator: ", "))"
    }
  }

  /// Parses a name as written on the command line (case-insensitive; `_` works for `-`).
  public static func parse(_ text: String) throws -> Precision {
    let normalized = String(text.lowercased().map { $0 == "_" ? "-" : $0 })
    guard let precision = Precision(rawValue: normalized) else { throw ParseError.unknown(text) }
    return precision
  }

  /// Bits per stored element, scales included (amortised over their block).
  public var bitsPerElement: Double {
    switch self {
    case .fp64: return 64
    case .fp32: return 32
    case .fp16, .bf16: return 16
    case .fp8e4m3, .fp8e5m2: return 8
    case .mxfp8e4m3, .mxfp8e5m2: return 8 + 8.0 / 32
    case .mxfp6e2m3, .mxfp6e3m2: return 6 + 8.0 / 32
    case .mxfp4: return 4 + 8.0 / 32
    case .nvfp4: return 4 + 8.0 / 16
    }
  }

  /// Quantizes and dequantizes `values`, as a kernel storing its operands in this precision sees
  /// them: per-tensor current scaling for plain FP8, block scales for MX and NVFP4.
  public func roundTrip(_ values: [Float], mxRule: MXScaleRule = .specFloor) -> [Float] {
    var result = [Float](repeating: 0, count: values.count)
    values.withUnsafeBufferPointer { source in
      result.withUnsafeMutableBufferPointer { destination in
        switch self {
        case .fp64, .fp32:
          _ = destination.initialize(from: source)
        case .fp16:
          for i in source.indices { destination[i] = Float(Float16(source[i])) }
        case .bf16:
          for i in source.indices { destination[i] = BFloat16(source[i]).floatValue }
        case .fp8e4m3, .fp8e5m2:
          let format: MiniFloatFormat = self == .fp8e4m3 ? .e4m3 : .e5m2
          let scale = TensorScaling.currentScale(amax: TensorScaling.amax(source), format: format)
          var codes = [UInt8](repeating: 0, count: source.count)
          let codec = MiniFloatCodec(format)
          codes.withUnsafeMutableBufferPointer { codec.encode(source, scale: scale, into: $0) }
          codes.withUnsafeBufferPointer { codec.decode($0, scale: 1 / scale, into: destination) }
        case .mxfp8e4m3, .mxfp8e5m2, .mxfp6e2m3, .mxfp6e3m2, .mxfp4:
          MXQuantizer.dequantize(MXQuantizer.quantize(source, format: mxFormat!, rule: mxRule), into: destination)
        case .nvfp4:
          NVFP4Quantizer.dequantize(NVFP4Quantizer.quantize(source), into: destination)
        }
      }
    }
    return result
  }

  public var mxFormat: MXFormat? {
    switch self {
    case .mxfp8e4m3: return .mxfp8e4m3
    case .mxfp8e5m2: return .mxfp8e5m2
    case .mxfp6e2m3: return .mxfp6e2m3
    case .mxfp6e3m2: return .mxfp6e3m2
    case .mxfp4: return .mxfp4
    default: return nil
    }
  }
}
