import Foundation

/// One line of a journal: a measurement and the key it is found again by.
public protocol JournalEntry: Codable, Sendable {
  /// Everything the measurement depends on (machine, build, what was measured, how): a later run
  /// reuses the entry only when its key is the same.
  var key: String { get }
}

/// Results as they arrive, one JSON line each, flushed to disk before the next measurement starts:
/// a killed run loses nothing it measured, and the next run reuses every line whose key matches
/// (the entry's key: machine fingerprint, build, what was measured and how). A last line cut off
/// by the kill is skipped and counted. Entries are typed: a kernel tuner's `TuningRecord`, the
/// layout search's trial records.
public final class Journal<Entry: JournalEntry>: @unchecked Sendable {
  /// Whether the file at `path` may be read and appended to as a journal: absent, empty, or lines
  /// of which at least one is a record, or all are records cut short (a run killed while writing
  /// its first line). Anything else (a profile, a binary file, other JSON) is someone else's file.
  static func isJournal(_ path: String, decoder: JSONDecoder) -> Bool {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return true }
    guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else { return false }
    if data.isEmpty { return true }
    guard let text = String(data: data, encoding: .utf8) else { return false }
    let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
    if lines.contains(where: { (try? decoder.decode(Entry.self, from: Data($0.utf8))) != nil }) { return true }
    // Only records cut short: each line starts like one and is not whole JSON of another kind.
    return lines.allSatisfy { $0.hasPrefix("{\"") && (try? JSONSerialization.jsonObject(with: Data($0.utf8))) == nil }
  }

  public let path: String
  private var records: [String: Entry] = [:]
  private let handle: FileHandle
  private let lock = NSLock()
  /// Lines that could not be read back (a line cut short by a kill, or foreign text).
  public private(set) var skippedLines = 0
  public var count: Int { lock.withLock { records.count } }

  /// Opens (creating) the journal at `path`; `fresh` ignores what it holds (and starts it anew).
  public init(path: String, fresh: Bool = false) throws {
    self.path = path
    let url = URL(fileURLWithPath: path)
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    guard Self.isJournal(path, decoder: decoder) else { throw JournalError.notAJournal(path: path) }
    do {
      try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      if fresh || !FileManager.default.fileExists(atPath: path) {
        try Data().write(to: url)
      }
    } catch {
      throw JournalError.unwritable(path: path, reason: error.localizedDescription)
    }
    if let text = try? String(contentsOfFile: path, encoding: .utf8) {
      for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
        if let record = try? decoder.decode(Entry.self, from: Data(line.utf8)) {
          records[record.key] = record
        } else {
          skippedLines += 1
        }
      }
    }
    guard let handle = FileHandle(forWritingAtPath: path) else {
      throw JournalError.unwritable(path: path, reason: "cannot open for appending")
    }
    self.handle = handle
    handle.seekToEndOfFile()
    // A line cut short by a kill has no newline: start on a fresh line so the next record is whole.
    if let data = FileManager.default.contents(atPath: path), let last = data.last, last != UInt8(ascii: "\n") {
      handle.write(Data("\n".utf8))
    }
  }

  deinit { try? handle.close() }

  public func lookup(_ key: String) -> Entry? { lock.withLock { records[key] } }

  /// Appends and syncs one record.
  public func append(_ record: Entry) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    var line = try encoder.encode(record)
    line.append(UInt8(ascii: "\n"))
    try lock.withLock {
      do {
        try handle.write(contentsOf: line)
        try handle.synchronize()
      } catch {
        throw JournalError.unwritable(path: path, reason: error.localizedDescription)
      }
      records[record.key] = record
    }
  }
}

/// The kernel tuners' journal.
public typealias KernelJournal = Journal<TuningRecord>

/// A kernel tuner's record: one configuration of one kernel for one shape and precision.
public struct TuningRecord: JournalEntry, Equatable {
  public var fingerprint: String
  /// The build that measured it: a changed kernel makes old measurements stale.
  public var build: String
  public var kernel: String
  public var shape: String
  public var precision: String
  public var configuration: Configuration
  public var outcome: Outcome
  public var effort: Int
  public var recordedAt: Date

  public init(
    fingerprint: String, build: String, kernel: String, shape: String, precision: String, configuration: Configuration,
    outcome: Outcome, effort: Int, recordedAt: Date = Date()
  ) {
    self.fingerprint = fingerprint
    self.build = build
    self.kernel = kernel
    self.shape = shape
    self.precision = precision
    self.configuration = configuration
    self.outcome = outcome
    self.effort = effort
    self.recordedAt = recordedAt
  }

  public var key: String {
    TuningRecord.key(fingerprint: fingerprint, build: build, kernel: kernel, shape: shape, precision: precision, configuration: configuration)
  }

  public static func key(fingerprint: String, build: String, kernel: String, shape: String, precision: String, configuration: Configuration) -> String {
    "\(fingerprint)|\(build)|\(kernel)|\(shape)|\(precision)|\(configuration)"
  }
}

public enum JournalError: Error, CustomStringConvertible {
  case unwritable(path: String, reason: String)
  case notAJournal(path: String)
  public var description: String {
    switch self {
    case .unwritable(let path, let reason):
      return "\(path): the tuning journal cannot be written (\(reason)); pass --journal PATH to put it elsewhere"
    case .notAJournal(let path):
      return "\(path): exists and is not a tuning journal (no line of it is a journal record), so it is left as it is; "
        + "pass --journal with a new path, or the path of a journal an earlier run wrote"
    }
  }
}

