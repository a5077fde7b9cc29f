import Foundation

/// Reads, validates and writes profiles. Reading checks the file against the shipped JSON Schema
/// before decoding, so every error names the field and what was expected; writing is atomic
/// (temporary file in the same directory, then rename), so a crash never leaves half a profile.
public enum ProfileStore {
  static func encoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return encoder
  }

  static func decoder() -> JSONDecoder {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return decoder
  }

  /// Encodes any profile part as the profile file would hold it (sorted keys, ISO 8601 dates).
  public static func encode<T: Encodable>(_ value: T) throws -> Data {
    try encoder().encode(value)
  }

  /// Reads and validates the profile at `path`.
  /// - Throws: `ProfileError` naming the file and the first problem found.
  public static func read(_ path: String) throws -> Profile {
    try decode(try load(path), path: path)
  }

  /// Validates and decodes profile JSON; `path` names it in errors.
  public static func decode(_ data: Data, path: String) throws -> Profile {
    let value: JSONValue
    do {
      value = try JSONValue.parse(data)
    } catch {
      throw ProfileError.malformedJSON(path: path, detail: jsonProblem(error, data: data))
    }
    guard case .object(let members) = value, case .string(let schema)? = members["schema"] else {
      throw ProfileError.notAProfile(path: path)
    }
    guard schema == Profile.currentSchema else {
      throw ProfileError.wrongSchema(path: path, found: schema, expected: Profile.currentSchema)
    }
    if let violation = try SchemaValidator.profileSchema().validate(value).first {
      throw error(for: violation, path: path)
    }
    do {
      return try decoder().decode(Profile.self, from: data)
    } catch {
      // The schema accepted it, so this is the schema and the types disagreeing: still say where.
      throw ProfileError.invalidValue(path: path, field: decodingField(error), problem: "\(error)")
    }
  }

  /// Writes `profile` to `path` atomically, creating the directory. The JSON is validated against
  /// the schema first, so a profile this tool writes is always one it can read back.
  public static func write(_ profile: Profile, to path: String) throws {
    let data: Data
    do {
      data = try encoder().encode(profile)
    } catch {
      throw ProfileError.invalidValue(path: path, field: decodingField(error), problem: "cannot be encoded: \(error)")
    }
    if let violation = try SchemaValidator.profileSchema().validate(try JSONValue.parse(data)).first {
      throw error(for: violation, path: path)
    }
    let url = URL(fileURLWithPath: path)
    do {
      try FileManager.default.createDirectory(
        at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
      try AtomicFile.write(data, to: path)
    } catch let error as AtomicFile.Failure {
      throw ProfileError.unwritable(path: path, reason: error.reason)
    } catch {
      throw ProfileError.unwritable(path: path, reason: error.localizedDescription)
    }
  }

  /// Writes `machine` into the profile at `path`: merged into the existing file when there is one
  /// (other sections are kept; a malformed existing file is an error, never overwritten), a new
  /// profile otherwise. Returns notes for the person, e.g. that kernel choices were measured on a
  /// machine with another fingerprint. `prepare` sees the merged profile last, before it is
  /// written (the tool's peak check).
  @discardableResult
  public static func merge(
    machine: MachineSection, run: Provenance.Run, into path: String, prepare: (inout Profile) -> Void = { _ in }
  ) throws -> [String] {
    var notes: [String] = []
    var profile: Profile
    if FileManager.default.fileExists(atPath: path) {
      profile = try read(path)
      if let old = profile.machine, old.fingerprint != machine.fingerprint,
         profile.kernels != nil || profile.parallel != nil {
        notes.append(
          "\(path): the kernels/parallel sections were measured on fingerprint \(old.fingerprint), "
            + "this machine is \(machine.fingerprint); they are kept but will not be applied here")
      }
      profile.machine = machine
      profile.provenance.runs.append(run)
    } else {
      profile = Profile(machine: machine, provenance: Provenance(runs: [run]))
    }
    prepare(&profile)
    try write(profile, to: path)
    return notes
  }

  /// The most a profile may hold: the largest written so far is well under 1 MiB, so anything
  /// near this is no profile (and reading it whole would exhaust memory).
  public static let sizeLimit: UInt64 = 64 << 20

  static func load(_ path: String) throws -> Data {
    do {
      return try BoundedFile.read(path, limit: sizeLimit)
    } catch {
      switch error {
      case .notFound: throw ProfileError.notFound(path: path)
      case .directory: throw ProfileError.isDirectory(path: path)
      case .notRegular(let kind): throw ProfileError.notRegularFile(path: path, kind: kind)
      case .tooLarge(let bytes, let limit): throw ProfileError.tooLarge(path: path, bytes: bytes, limit: limit)
      case .unreadable(let reason): throw ProfileError.unreadable(path: path, reason: reason)
      }
    }
  }


  static func error(for violation: SchemaValidator.Violation, path: String) -> ProfileError {
    switch violation.kind {
    case .missing(let expected):
      return .missingField(path: path, field: violation.field, expected: expected)
    case .wrongType(let expected, let found):
      return .wrongType(path: path, field: violation.field, expected: expected, found: found)
    case .invalid(let problem):
      return .invalidValue(path: path, field: violation.field, problem: problem)
    }
  }

  static func jsonProblem(_ error: Error, data: Data) -> String {
    if data.isEmpty { return "the file is empty" }
    if case DecodingError.dataCorrupted(let context) = error {
      let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
      return underlying ?? context.debugDescription
    }
    return "\(error)"
  }

  static func decodingField(_ error: Error) -> String {
    let path: [CodingKey]
    switch error {
    case DecodingError.keyNotFound(let key, let context): path = context.codingPath + [key]
    case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
      DecodingError.dataCorrupted(let context):
      path = context.codingPath
    case EncodingError.invalidValue(_, let context): path = context.codingPath
    default: path = []
    }
    return path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
      .trimmingCharacters(in: CharacterSet(charactersIn: "."))
  }
}
