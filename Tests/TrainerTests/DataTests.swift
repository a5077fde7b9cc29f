import Foundation
import Profile
import Testing

@testable import Trainer

@Suite struct DataTests {
  static func file(_ contents: String, name: String) -> String {
    let path = NSTemporaryDirectory() + "scaletune-data-\(UUID().uuidString)-\(name)"
    _ = FileManager.default.createFile(atPath: path, contents: Data(contents.utf8))
    return path
  }

  @Test func textWithoutShuffleReadsConsecutiveWindowsFromTheStart() throws {
    var model = try ModelConfig.named("tiny")
    model.vocabulary = 256
    let text = String(repeating: "the quick brown fox jumps over the lazy dog. ", count: 4)
    let path = Self.file(text, name: "a.txt")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let source = try BatchSource(model: model, source: .text(path), seed: 1, shuffle: false)
    let bytes = Array(text.utf8).map { Int32($0) }
    let s = model.seq
    let step0 = source.batch(step: 0, sequences: 2), step1 = source.batch(step: 1, sequences: 2)
    // Sequence j starts at (j · seq) mod (T − seq): inputs are its first seq bytes, targets the next seq.
    #expect(Array(step0.inputs[0..<s]) == Array(bytes[0..<s]))
    #expect(Array(step0.targets[0..<s]) == Array(bytes[1...s]))
    #expect(Array(step0.inputs[s..<2 * s]) == Array(bytes[s..<2 * s]))
    #expect(Array(step1.inputs[0..<s]) == Array(bytes[2 * s..<3 * s]))
    #expect(step0.countedTokens == 2 * s)
  }

  @Test func fastaBecomesESMTokens() throws {
    let path = Self.file(">sp|P1|one\nMKV\nLA\n>two\nacd*\n", name: "p.fasta")
    defer { try? FileManager.default.removeItem(atPath: path) }
    let tokens = try BatchSource.parseFASTA(path, data: try Data(contentsOf: URL(fileURLWithPath: path)))
    let ids = ["M", "K", "V", "L", "A"].map { ESMVocabulary.id(Character($0))! }
    #expect(tokens == [ESMVocabulary.cls] + ids + [ESMVocabulary.eos, ESMVocabulary.cls] + ["A", "C", "D"].map { ESMVocabulary.id(Character($0))! } + [ESMVocabulary.eos])
    #expect(ESMVocabulary.tokens.count == 33 && ESMVocabulary.tokens[32] == "<mask>" && ESMVocabulary.tokens[4] == "L")
  }

  @Test func badDataIsRefusedNamingTheFileAndLine() throws {
    let esm = try ModelConfig.named("esm2-8m")
    var small = try ModelConfig.named("small")
    small.seq = 64
    let empty = Self.file("", name: "empty.txt"), short = Self.file("too short", name: "short.txt")
    let fasta = Self.file(">ok\nMKV\n>bad\nMK\nMKJV\n", name: "bad.fasta")
    defer { for path in [empty, short, fasta] { try? FileManager.default.removeItem(atPath: path) } }
    func message(_ model: ModelConfig, _ source: DataSource) -> String {
      do {
        _ = try BatchSource(model: model, source: source, seed: 1, shuffle: true)
      } catch {
        return "\(error)"
      }
      return "accepted"
    }
    #expect(message(small, .text(empty)).contains("empty"))
    #expect(message(small, .text(short)).contains("holds 9 tokens"))
    #expect(message(esm, .fasta(fasta)) == "\(fasta):5: \"J\" is not in the ESM-2 vocabulary (the 20 amino acids, X B U Z O . -)")
    #expect(message(small, .text("/no/such/file")).contains("no such file"))
    #expect(message(esm, .text(short)).contains("causal"))
    #expect((try? DataSource.parse("csv:x")) == nil)
  }

  @Test func maskingChoosesFifteenPercentAndSplits801010() throws {
    let model = try ModelConfig.named("esm2-8m")
    let source = try BatchSource(model: model, source: .synthetic, seed: 2, shuffle: true)
    let batch = source.batch(step: 0, sequences: 16)
    var chosen = 0, masked = 0, kept = 0, residues = 0
    for n in 0..<batch.inputs.count {
      let target = batch.targets[n]
      if ESMVocabulary.aminoAcids.contains(target) { residues += 1 }
      guard batch.counted[n] else {
        #expect(batch.inputs[n] == target)
        continue
      }
      chosen += 1
      if batch.inputs[n] == ESMVocabulary.mask { masked += 1 } else if batch.inputs[n] == target { kept += 1 }
    }
    let share = Double(chosen) / Double(residues)
    #expect(abs(share - 0.15) < 0.02, "chosen \(share)")
    #expect(abs(Double(masked) / Double(chosen) - 0.8) < 0.05)
    // Kept: the 10% left as they are, plus the random replacements that drew the same residue.
    #expect(abs(Double(kept) / Double(chosen) - 0.105) < 0.04)
  }

  /// Continuous inputs: each position carries its token's ±1 code and no token id; glitches
  /// multiply values at the stated rate; every layout slices the same values; a model and a
  /// source that do not go together are refused, saying what would.
  @Test func featuresCarryTheTokenCodeAndTheirOutliers() throws {
    var model = try ModelConfig.named("tiny")
    model.features = 16
    let clean = try BatchSource(model: model, source: try DataSource.parse("features"), seed: 4, shuffle: true)
    let plain = try BatchSource(model: try ModelConfig.named("tiny"), source: .synthetic, seed: 4, shuffle: true)
    let batch = clean.batch(step: 3, sequences: 8)
    #expect(batch.features.count == batch.inputs.count * 16)
    #expect(batch.inputs.allSatisfy { $0 == 0 }, "the token id is withheld")
    // The same chain as synthetic data: the targets agree, and each position's code is its token's.
    let tokens = plain.batch(step: 3, sequences: 8)
    #expect(batch.targets == tokens.targets)
    #expect(batch.features.allSatisfy { $0 == 1 || $0 == -1 })
    for n in 0..<tokens.inputs.count where n > 0 && tokens.inputs[n] == tokens.inputs[0] {
      #expect(Array(batch.features[n * 16..<(n + 1) * 16]) == Array(batch.features[0..<16]))
    }
    let distinct = Set((0..<64).map { token in clean.codes[token * 16..<(token + 1) * 16].map { $0 > 0 } })
    #expect(distinct.count == 64, "every token has its own code")

    let spec = "features:outliers=0.01,scale=1000000"
    let source = try DataSource.parse(spec)
    #expect(source == .features(outlierRate: 0.01, outlierScale: 1e6))
    let glitched = try BatchSource(model: model, source: source, seed: 4, shuffle: true).batch(step: 3, sequences: 8)
    let big = glitched.features.filter { abs($0) == 1e6 }.count
    let share = Double(big) / Double(glitched.features.count)
    #expect(share > 0.006 && share < 0.014, "outlier share \(share)")
    #expect(zip(glitched.features, batch.features).allSatisfy { $0 == $1 || $0 == 1e6 * $1 })
    // A micro-batch's slice keeps its own positions' values.
    let part = glitched.slice(2..<5, seq: model.seq)
    #expect(part.features == Array(glitched.features[2 * model.seq * 16..<5 * model.seq * 16]))

    func message(_ model: ModelConfig, _ source: DataSource) -> String {
      do {
        _ = try BatchSource(model: model, source: source, seed: 1, shuffle: true)
        return ""
      } catch { return "\(error)" }
    }
    #expect(message(model, .synthetic).contains("takes 16 continuous values per position; train it on --data features"))
    #expect(message(try ModelConfig.named("tiny"), source).contains("needs a model with continuous inputs"))
    for bad in ["features:", "features:outliers=2,scale=3", "features:outliers=0.1", "features:outliers=0.1,scale=-1", "features:rate=0.1,scale=2"] {
      #expect((try? DataSource.parse(bad)) == nil, "\(bad)")
    }
    #expect("\(DataError.unknownSource("features:"))".contains("features:outliers=RATE,scale=S"))
  }

  @Test func smallLearnsTheSyntheticStructure() throws {
    var options = TrainingOptions(model: try ModelConfig.named("small"), batch: 1, steps: 200, learningRate: 1e-3)
    options.threadsPerRank = 2
    let reports = try TrainingRun(options).run().reports
    let start = reports[0].loss, end = reports.suffix(10).map(\.loss).reduce(0, +) / 10
    // From ln 256 = 5.55 towards the data's ln 4 = 1.39.
    #expect(end < start - 2, "loss from \(start) to \(end)")
  }
}
