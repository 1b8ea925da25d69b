import Foundation
import RukoBuild
import Testing

/// The bundled buildpacks build their example apps, and the slugs' web processes answer on $PORT.
@Suite("ruko-build examples", .serialized, .enabled(if: BuildTestSupport.isRoot, "requires root"))
struct BuildExamplesTests {
    typealias Support = BuildTestSupport

    @Test(arguments: ["procfile", "static", "python", "nodejs"])
    func exampleBuildsAndServes(_ name: String) throws {
        let scratch = try Support.Scratch()
        let slug = scratch.path + "/\(name).tgz"
        let build = try Support.rukoBuild([
            Support.repositoryRoot + "/examples/" + name, "-o", slug, "--json", "--allow-missing-controllers",
            "--cache-dir", scratch.path + "/cache",
        ])
        #expect(build.status == 0, "\(build.stderr)")
        let result = try JSONDecoder().decode(BuildResult.self, from: Data(build.stdout.utf8))
        #expect(result.buildpacks == [name])
        let web = try #require(result.processTypes["web"])
        // Unpack with the archive module and run the web process in the sandbox on a free port.
        let directory = scratch.path + "/unpacked"
        let unpack = try Support.rukoBuild(["unpack", slug, directory])
        #expect(unpack.status == 0, "\(unpack.stderr)")
        let port = Int.random(in: 20000...40000)
        let script = """
            ruko_run=$1; app=$2; port=$3; web=$4
            "$ruko_run" --app "$app" --network host --allow-missing-controllers --env PORT="$port" -- \
              bash -c 'for f in /app/.profile.d/*.sh; do [ -f "$f" ] && . "$f"; done; eval "exec $0"' "$web" &
            pid=$!
            for i in $(seq 1 100); do
              if body=$(curl -fsS "http://127.0.0.1:$port/" 2>/dev/null); then break; fi
              sleep 0.1
            done
            kill "$pid"; wait "$pid" 2>/dev/null
            printf '%s' "$body"
            """
        let served = try Support.run(
            "/bin/bash",
            ["-c", script, "x", Support.binDirectory + "/ruko-run", directory + "/app", "\(port)", web])
        #expect(served.stdout.contains("Hello from ruko"), "stdout: \(served.stdout) stderr: \(served.stderr)")
    }
}
