import Testing

@testable import Kernels
@testable import Platform
@testable import Probe
@testable import Profile

/// The BLIS and oneDNN identity rules on recorded library states and CPUs other than this one.
@Suite struct LibraryRuleTests {
  static let avx512 = ISAFeatures(RuleTests.readings(avx512: true, bf16: true))
  static let avx2 = ISAFeatures(RuleTests.readings())

  static func blis(_ arch: String) -> LibraryStatus {
    LibraryStatus(name: "BLIS", version: "0.9.0", selected: arch, threading: "openmp", failure: nil)
  }

  @Test func blisOnItsOwnLevelIsNoMismatch() {
    let (section, warning) = LibraryProbe.blis(Self.blis("skx"), features: Self.avx512, vendor: "GenuineIntel", family: 6)
    #expect(section.loaded && section.selected == "skx" && section.selectedISA == "avx512")
    #expect(section.mismatch == nil && warning == nil)
    #expect(LibraryProbe.blis(Self.blis("zen3"), features: Self.avx2, vendor: "AuthenticAMD", family: 25).1 == nil)
  }

  /// The Xeon of the issue: Debian's BLIS picks haswell on an AVX-512 CPU, half the vector width.
  @Test func haswellKernelsOnAnAVX512XeonAreReported() {
    let (section, warning) = LibraryProbe.blis(Self.blis("haswell"), features: Self.avx512, vendor: "GenuineIntel", family: 6)
    #expect(section.mismatch?.estimatedSlowdown == 2)
    #expect(warning?.code == "blis-arch-mismatch")
    #expect(warning?.message.contains("\"haswell\"") == true && warning?.message.contains("skx") == true)
  }

  /// Zen 4 runs AVX-512 on 256-bit halves: still reported, but without a made-up 2× cost.
  @Test func zen3KernelsOnZen4AreReportedWithoutAVectorWidthCost() {
    let (section, warning) = LibraryProbe.blis(Self.blis("zen3"), features: Self.avx512, vendor: "AuthenticAMD", family: 25)
    #expect(section.mismatch?.estimatedSlowdown == 1)
    #expect(warning?.message.contains("zen4") == true)
    #expect(warning?.message.contains("256-bit halves") == true)
  }

  @Test func aLibraryThatDidNotLoadSaysWhy() {
    let missing = LibraryStatus(name: "BLIS", version: nil, selected: nil, threading: nil, failure: "cannot open libblis.so.4")
    let (section, warning) = LibraryProbe.blis(missing, features: Self.avx512, vendor: "GenuineIntel", family: 6)
    #expect(!section.loaded && section.reason == "cannot open libblis.so.4")
    #expect(warning?.code == "blis-unavailable")
  }

  static func dnnl(_ isa: String) -> LibraryStatus {
    LibraryStatus(name: "oneDNN", version: "2.6.3", selected: isa, threading: "omp", failure: nil)
  }

  @Test func oneDNNISAFromTheCPU() {
    #expect(LibraryProbe.oneDNNISA(for: Self.avx512) == "avx512_core_bf16")
    #expect(LibraryProbe.oneDNNISA(for: Self.avx2) == "avx2")
    #expect(LibraryProbe.oneDNNISA(for: ISAFeatures(RuleTests.readings(avx512: true, bf16: true, amx: true, xcr0: 0x602e7))) == "avx512_core_amx")
  }

  /// The planted mismatch: ONEDNN_MAX_CPU_ISA=avx2 on an AVX-512 CPU names the variable and the fix.
  @Test func aCappedOneDNNNamesTheVariableAndTheFix() {
    let (section, warning) = LibraryProbe.oneDNN(Self.dnnl("avx2"), features: Self.avx512, environment: ["ONEDNN_MAX_CPU_ISA": "avx2"])
    #expect(section.mismatch?.advice == "unset ONEDNN_MAX_CPU_ISA")
    #expect(section.mismatch?.estimatedSlowdown == 2)
    #expect(warning?.code == "onednn-isa-mismatch")
    #expect(warning?.message.contains("ONEDNN_MAX_CPU_ISA=avx2") == true && warning?.message.contains("bf16") == true)
    let uncapped = LibraryProbe.oneDNN(Self.dnnl("avx512_core"), features: Self.avx512, environment: [:])
    #expect(uncapped.0.mismatch?.advice == "a newer oneDNN")
    #expect(LibraryProbe.oneDNN(Self.dnnl("avx512_core_bf16"), features: Self.avx512, environment: [:]).1 == nil)
  }
}
