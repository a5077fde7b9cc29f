import CKernels

/// Raw cpuid and xgetbv readings, kept apart from their interpretation so that the rules in
/// `ISAFeatures` can be tested on recorded values from other CPUs.
public struct CPUIDReadings: Sendable, Equatable {
  public var vendor: String
  public var brand: String
  /// Leaf 1: eax (signature), ecx, edx.
  public var leaf1: (eax: UInt32, ecx: UInt32, edx: UInt32)
  /// Leaf 7 subleaf 0: ebx, ecx, edx; subleaf 1: eax.
  public var leaf7: (ebx: UInt32, ecx: UInt32, edx: UInt32, sub1eax: UInt32)
  /// XCR0 when the OS enabled xsave, else 0.
  public var xcr0: UInt64
  /// Whether Linux granted this process AMX tile data (arch_prctl); false when not asked.
  public var amxPermission: Bool

  public init(
    vendor: String, brand: String, leaf1: (eax: UInt32, ecx: UInt32, edx: UInt32),
    leaf7: (ebx: UInt32, ecx: UInt32, edx: UInt32, sub1eax: UInt32), xcr0: UInt64, amxPermission: Bool
  ) {
    self.vendor = vendor
    self.brand = brand
    self.leaf1 = leaf1
    self.leaf7 = leaf7
    self.xcr0 = xcr0
    self.amxPermission = amxPermission
  }

  public static func == (a: CPUIDReadings, b: CPUIDReadings) -> Bool {
    a.vendor == b.vendor && a.brand == b.brand && a.leaf1 == b.leaf1 && a.leaf7 == b.leaf7
      && a.xcr0 == b.xcr0 && a.amxPermission == b.amxPermission
  }

  /// Reads this CPU. Asks Linux for AMX permission when cpuid reports AMX, since the permission is
  /// part of what makes AMX usable and every later AMX kernel needs it.
  public static func current() -> CPUIDReadings {
    guard ck_is_x86_64() != 0 else {
      return CPUIDReadings(vendor: "unknown", brand: "unknown", leaf1: (0, 0, 0), leaf7: (0, 0, 0, 0), xcr0: 0, amxPermission: false)
    }
    let r0 = cpuid(0, 0)
    let maxLeaf = r0[0]
    let vendor = string(fromRegisters: [r0[1], r0[3], r0[2]])
    let r1 = cpuid(1, 0)
    var leaf7: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)
    if maxLeaf >= 7 {
      let sub0 = cpuid(7, 0)
      let sub1 = sub0[0] >= 1 ? cpuid(7, 1) : [0, 0, 0, 0]
      leaf7 = (sub0[1], sub0[2], sub0[3], sub1[0])
    }
    var brand = ""
    if cpuid(0x8000_0000, 0)[0] >= 0x8000_0004 {
      brand = string(fromRegisters: (0x8000_0002...0x8000_0004).flatMap { cpuid(UInt32($0), 0) })
        .trimmingCharacters(in: " ")
    }
    let osxsave = r1[2] & (1 << 27) != 0
    let xcr0 = osxsave ? ck_xgetbv(0) : 0
    let amxPresent = leaf7.2 & (1 << 24) != 0
    let amxPermission = amxPresent && ck_request_amx_permission() == 0
    return CPUIDReadings(
      vendor: vendor, brand: brand, leaf1: (r1[0], r1[2], r1[3]), leaf7: leaf7, xcr0: xcr0,
      amxPermission: amxPermission)
  }

  static func cpuid(_ leaf: UInt32, _ subleaf: UInt32) -> [UInt32] {
    var out: [UInt32] = [0, 0, 0, 0]
    out.withUnsafeMutableBufferPointer { ck_cpuid(leaf, subleaf, $0.baseAddress) }
    return out
  }

  static func string(fromRegisters registers: [UInt32]) -> String {
    var bytes: [UInt8] = []
    for register in registers {
      for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((register >> UInt32(shift)) & 0xFF)) }
    }
    return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
  }

  /// Family, model and stepping decoded from the leaf-1 signature as Intel and AMD define them.
  public var signature: (family: Int, model: Int, stepping: Int) {
    let eax = leaf1.eax
    let baseFamily = Int((eax >> 8) & 0xF)
    let baseModel = Int((eax >> 4) & 0xF)
    let family = baseFamily == 0xF ? baseFamily + Int((eax >> 20) & 0xFF) : baseFamily
    let model = (baseFamily == 0x6 || baseFamily == 0xF) ? baseModel | (Int((eax >> 16) & 0xF) << 4) : baseModel
    return (family, model, Int(eax & 0xF))
  }

  public var hypervisor: Bool { leaf1.ecx & (1 << 31) != 0 }
}

extension String {
  func trimmingCharacters(in set: Character) -> String {
    var view = Substring(self)
    while view.first == set { view = view.dropFirst() }
    while view.last == set { view = view.dropLast() }
    return String(view)
  }
}
