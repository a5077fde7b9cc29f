import Foundation

/// Features to treat as unusable although the CPU has them: `SCALETUNE_ISA`. It lets a person tune
/// "as if this CPU had no AVX-512", and lets CI run the narrower kernels on a wider CPU.
///
/// The value is a comma-separated list. A level caps the ISA: `sse2` (x86-64 baseline), `avx2`
/// (x86-64-v3: AVX, AVX2, FMA, F16C), `avx512` (AVX-512 and its extensions, no AMX); `native`
/// masks nothing. `-name` masks one feature by its /proc/cpuinfo name (`-amx_tile,-avx512f`).
/// Masking a feature masks what is built on it: `avx512f` takes every `avx512*` and `amx*` with
/// it, `avx`/`avx2` take the AVX-512 and AMX features, `amx_tile` takes `amx_*`.
/// The mask changes which kernels are chosen; the compiler's own code generation (`-target-cpu`)
/// is not affected by it.
public struct ISAMask: Sendable, Equatable, CustomStringConvertible {
  /// Names as /proc/cpuinfo spells them.
  public private(set) var masked: Set<String>
  /// The text it was parsed from.
  public let text: String

  public static let variable = "SCALETUNE_ISA"
  public static let levels = ["sse2", "avx2", "avx512", "native"]

  public enum ParseError: Error, Equatable, CustomStringConvertible {
    case unknown(String)
    public var description: String {
      guard case .unknown(let item) = self else { return "" }
      return "\(ISAMask.variable): unknown item \"\(item)\"; expected a level (\(ISAMask.levels.joined(separator: ", "))) "
        + "or -feature with a feature from: \(ISAFeatures.names.joined(separator: ", ")) (for example SCALETUNE_ISA=avx2 or =-amx_tile,-avx512f)"
    }
  }

  public init(_ text: String) throws {
    self.text = text
    masked = []
    for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !item.isEmpty {
      if item.hasPrefix("-") {
        let name = String(item.dropFirst())
        guard ISAFeatures.names.contains(name) else { throw ParseError.unknown(item) }
        masked.insert(name)
      } else if let cap = Self.above(level: item) {
        masked.formUnion(cap)
      } else {
        throw ParseError.unknown(item)
      }
    }
    // What is built on a masked feature goes with it.
    var changed = true
    while changed {
      changed = false
      for name in ISAFeatures.names where !masked.contains(name) && Self.prerequisites(name).contains(where: masked.contains) {
        masked.insert(name)
        changed = true
      }
    }
  }

  /// No feature masked.
  public static let none = try! ISAMask("")

  public var isEmpty: Bool { masked.isEmpty }
  public var description: String { isEmpty ? "none" : "\(Self.variable)=\(text) (masks \(masked.sorted().joined(separator: ", ")))" }

  /// The mask in the environment; `.none` when the variable is unset or empty.
  public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ISAMask {
    try ISAMask(environment[variable] ?? "")
  }

  /// The features a level leaves out; nil for an unknown level.
  static func above(level: String) -> Set<String>? {
    let avx512 = Set(ISAFeatures.names.filter { $0.hasPrefix("avx512") })
    let amx = Set(ISAFeatures.names.filter { $0.hasPrefix("amx") })
    switch level {
    case "native": return []
    case "avx512": return amx
    case "avx2": return avx512.union(amx)
    case "sse2": return Set(["sse4_2", "avx", "avx2", "fma", "f16c"]).union(avx512).union(amx)
    default: return nil
    }
  }

  /// The features `name` is built on (one step).
  static func prerequisites(_ name: String) -> [String] {
    switch name {
    case "avx2", "fma", "f16c": return ["avx"]
    case "avx512f": return ["avx2", "fma"]
    case "amx_tile": return ["avx512f"]
    case let n where n.hasPrefix("avx512"): return ["avx512f"]
    case let n where n.hasPrefix("amx"): return ["amx_tile"]
    default: return []
    }
  }
}

extension ISAFeatures {
  /// These features with `mask` applied: a masked feature stays present and becomes unusable,
  /// with the mask as its reason.
  public func masked(by mask: ISAMask) -> ISAFeatures {
    var copy = self
    copy.all = all.map { feature in
      guard feature.usable, mask.masked.contains(feature.name) else { return feature }
      return Feature(name: feature.name, present: feature.present, usable: false, reason: "masked by \(ISAMask.variable)=\(mask.text)")
    }
    return copy
  }

  /// This CPU's features with the environment's `SCALETUNE_ISA` applied: what every kernel
  /// choice reads. Read once per process. An invalid mask masks nothing here; the command line
  /// refuses it before any work (`ISAMask.fromEnvironment()`).
  public static var current: ISAFeatures { cachedCurrent }

  private static let cachedCurrent: ISAFeatures = {
    let raw = ISAFeatures(CPUIDReadings.current())
    return raw.masked(by: (try? ISAMask.fromEnvironment()) ?? .none)
  }()
}
