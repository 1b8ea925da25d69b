import Foundation
import Testing
import Yams

@testable import RukoAPI

/// docs/openapi.yaml, found from this source file's location.
func specPath() -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml").path
}

func loadSpec() throws -> [String: Any] {
    let text = try String(contentsOfFile: specPath(), encoding: .utf8)
    return try #require(try Yams.load(yaml: text) as? [String: Any])
}

/// A JSON value decoded strictly (JSONDecoder does not confuse `1` and `true`).
indirect enum JSONValue: Decodable {
    case null, bool(Bool), int(Int64), double(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}

/// Checks a JSON value against the subset of OpenAPI 3.0 schemas the spec uses: `$ref`, `type`,
/// `required`, `properties`, `additionalProperties`, `items`, `enum`, `pattern`, `nullable`.
struct SchemaChecker {
    let spec: [String: Any]

    func check(_ value: JSONValue, _ schema: [String: Any], at path: String = "$") -> [String] {
        if let ref = schema["$ref"] as? String {
            guard let resolved = resolve(ref) else { return ["\(path): unresolvable \(ref)"] }
            return check(value, resolved, at: path)
        }
        if case .null = value {
            return schema["nullable"] as? Bool == true ? [] : ["\(path): null but not nullable"]
        }
        var problems: [String] = []
        switch (schema["type"] as? String, value) {
        case ("object", .object(let members)):
            for name in schema["required"] as? [String] ?? [] where members[name] == nil {
                problems.append("\(path): missing required field '\(name)'")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (name, member) in members {
                if let propertySchema = properties[name] as? [String: Any] {
                    problems += check(member, propertySchema, at: "\(path).\(name)")
                } else if let additional = schema["additionalProperties"] as? [String: Any] {
                    problems += check(member, additional, at: "\(path).\(name)")
                }
            }
        case ("array", .array(let items)):
            if let itemSchema = schema["items"] as? [String: Any] {
                for (index, item) in items.enumerated() { problems += check(item, itemSchema, at: "\(path)[\(index)]") }
            }
        case ("string", .string(let text)):
            if let allowed = schema["enum"] as? [String], !allowed.contains(text) {
                problems.append("\(path): '\(text)' not in \(allowed)")
            }
            if let pattern = schema["pattern"] as? String, text.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path): '\(text)' does not match \(pattern)")
            }
        case ("integer", .int), ("boolean", .bool), ("number", .int), ("number", .double):
            break
        case (nil, _):
            break
        case (let type?, _):
            problems.append("\(path): expected \(type), got \(value)")
        }
        return problems
    }

    func resolve(_ ref: String) -> [String: Any]? {
        guard ref.hasPrefix("#/") else { return nil }
        var node: Any = spec
        for part in ref.dropFirst(2).split(separator: "/") {
            guard let dictionary = node as? [String: Any], let next = dictionary[String(part)] else { return nil }
            node = next
        }
        return node as? [String: Any]
    }
}

@Suite(.serialized) struct OpenAPITests {
    static let methods = ["get", "put", "post", "delete", "patch", "head"]

    /// Every documented path + method + status is served as documented, and every scenario is documented.
    @Test func serverMatchesTheSpec() async throws {
        let spec = try loadSpec()
        let checker = SchemaChecker(spec: spec)
        let paths = try #require(spec["paths"] as? [String: Any])
        var documented: Set<String> = []
        for (path, item) in paths.sorted(by: { $0.key < $1.key }) {
            let operations = try #require(item as? [String: Any])
            for method in Self.methods {
                guard let operation = operations[method] as? [String: Any] else { continue }
                let responses = try #require(operation["responses"] as? [String: Any])
                for (status, response) in responses.sorted(by: { $0.key < $1.key }) {
                    let name = "\(method.uppercased()) \(path) \(status)"
                    documented.insert(name)
                    guard let scenario = Scenarios.all[name] else {
                        Issue.record("documented but not exercised: \(name)")
                        continue
                    }
                    let server = try await TestServer.start()
                    let exchange = try await scenario(server)
                    await server.stop()
                    #expect(exchange.status == Int(status), "\(name): got \(exchange.status) \(exchange.text)")
                    var responseObject = try #require(response as? [String: Any])
                    if let ref = responseObject["$ref"] as? String {
                        responseObject = try #require(checker.resolve(ref))
                    }
                    let content = responseObject["content"] as? [String: Any] ?? [:]
                    if let json = content["application/json"] as? [String: Any],
                        let schema = json["schema"] as? [String: Any]
                    {
                        #expect(
                            exchange.headers["content-type"].map { $0.hasPrefix("application/json") } ?? true,
                            "\(name): content type \(exchange.headers["content-type"] ?? "none")")
                        do {
                            let value = try JSONDecoder().decode(JSONValue.self, from: exchange.body)
                            let problems = checker.check(value, schema)
                            #expect(problems.isEmpty, "\(name): \(problems) in \(exchange.text)")
                        } catch {
                            Issue.record("\(name): body is not JSON: \(exchange.text)")
                        }
                    }
                }
            }
        }
        let undocumented = Set(Scenarios.all.keys).subtracting(documented)
        #expect(undocumented.isEmpty, "exercised but not documented: \(undocumented.sorted())")
    }

    /// The spec itself is valid OpenAPI (checked with python3's openapi-spec-validator).
    @Test(.enabled(if: OpenAPITests.validatorAvailable(), "needs python3 with openapi-spec-validator and PyYAML"))
    func specIsValidOpenAPI() throws {
        let script =
            "import sys, yaml\nfrom openapi_spec_validator import validate\nvalidate(yaml.safe_load(open(sys.argv[1])))\n"
        let (status, output) = try Self.python(["-c", script, specPath()])
        #expect(status == 0, "\(output)")
    }

    @Test func specDocumentsTheContractFields() throws {
        let spec = try loadSpec()
        let schemas = try #require((spec["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let push = try #require(schemas["Push"] as? [String: Any])
        let required = Set(push["required"] as? [String] ?? [])
        for field in [
            "app", "push_id", "repo", "slug", "cache", "template", "env", "buildpack_url", "release_url", "limits",
        ] {
            #expect(required.contains(field), "Push.\(field)")
        }
        let release = try #require(schemas["Release"] as? [String: Any])
        let releaseFields = Set(release["required"] as? [String] ?? [])
        for field in [
            "version", "name", "slug_id", "process_types", "commit", "sha256", "size", "buildpack", "stack",
            "config_vars", "created_at",
        ] {
            #expect(releaseFields.contains(field), "Release.\(field)")
        }
    }

    static func validatorAvailable() -> Bool {
        (try? python(["-c", "import yaml, openapi_spec_validator"]).0) == 0
    }

    static func python(_ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
