import Foundation
import RukoSandbox
import Testing

/// Soak: many sandboxes from one long-lived, multi-threaded process (as ruko-build and the shim
/// use the library), then nothing may be left: mounts, cgroups, processes, fds, temporary
/// directories; and the process's memory must not grow. `RUKO_SOAK_RUNS` / `RUKO_SOAK_PARALLEL`
/// set the size (`make soak`: 1000 and 50; `make test`: a reduced run).
@Suite(.serialized, .enabled(if: isRoot, "requires root: sandboxes need namespaces and cgroups"))
struct SoakTests {
    let sequential = Int(ProcessInfo.processInfo.environment["RUKO_SOAK_RUNS"] ?? "") ?? 100
    let parallel = Int(ProcessInfo.processInfo.environment["RUKO_SOAK_PARALLEL"] ?? "") ?? 10

    func configuration(_ script: String, stdout: Int32 = 1) throws -> SandboxConfiguration {
        var config = SandboxConfiguration(
            command: ["/bin/sh", "-c", script],
            template: try RootfsTemplate.load("default", searchDirectories: [repoRoot + "/rootfs-templates"]))
        config.standardOutput = stdout
        config.standardInput = -1 == stdout ? 0 : 0
        return config
    }

    func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    func residentKB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    func temporaryEntries() -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("ruko-run") })
    }

    /// This process's cgroups under the ruko root (other processes may be running sandboxes too).
    func ownCgroups() -> [String] { currentLeftovers().cgroups.filter { $0.hasPrefix("\(getpid())-") } }

    @Test func sequentialAndParallelRunsLeaveNothingAndDoNotGrow() throws {
        let devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)
        defer { close(devnull) }
        let config = try configuration("echo soak; exit 3", stdout: devnull)
        // Warm up (first-use allocations, the seccomp program) before measuring.
        for _ in 0..<10 { _ = try Sandbox.run(config) }
        let before = currentLeftovers()
        let cgroupsBefore = ownCgroups()
        let fdsBefore = openDescriptors()
        let tmpBefore = temporaryEntries()
        let rssWarm = residentKB()

        let clock = ContinuousClock()
        let start = clock.now
        for i in 0..<sequential {
            let outcome = try Sandbox.run(config)
            if outcome.termination != .exited(3) {
                Issue.record("run \(i): \(outcome.termination)")
                break
            }
        }
        let sequentialTime = clock.now - start
        let rssAfterSequential = residentKB()

        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var failures: [String] = []
            func add(_ s: String) { lock.lock(); failures.append(s); lock.unlock() }
        }
        let results = Results()
        let group = DispatchGroup()
        for i in 0..<parallel {
            group.enter()
            Thread.detachNewThread {
                do {
                    let outcome = try Sandbox.run(config)
                    if outcome.termination != .exited(3) { results.add("parallel \(i): \(outcome.termination)") }
                } catch {
                    results.add("parallel \(i): \(error)")
                }
                group.leave()
            }
        }
        #expect(group.wait(timeout: .now() + 300) == .success, "parallel runs did not finish")
        #expect(results.failures.isEmpty, "\(results.failures)")

        Thread.sleep(forTimeInterval: 0.2)
        let added = currentLeftovers().mountsAdded(since: before)
        #expect(added.isEmpty, "mounts leaked: \(added)")
        #expect(currentLeftovers().rootfsEntries.isEmpty)
        #expect(ownCgroups() == cgroupsBefore, "cgroups left: \(ownCgroups())")
        #expect(openDescriptors() == fdsBefore, "fd count grew from \(fdsBefore) to \(openDescriptors())")
        #expect(temporaryEntries() == tmpBefore)
        #expect(processes(matching: "echo soak").isEmpty)
        let rssEnd = residentKB()
        // Allocator noise is a few hundred kB; a leak per run would be runs × its size.
        #expect(
            rssAfterSequential - rssWarm < 4096,
            "RSS grew \(rssWarm) → \(rssAfterSequential) kB over \(sequential) runs")
        print(
            "soak: \(sequential) sequential runs in \(sequentialTime) (\(sequentialTime / max(sequential, 1)) each), "
                + "\(parallel) parallel; RSS \(rssWarm) → \(rssAfterSequential) → \(rssEnd) kB; fds \(fdsBefore) → \(openDescriptors())"
        )
    }

    @Test func theRuntimeBinaryPeakRssIsSmallAndFlat() throws {
        // ru_maxrss of single ruko-run processes, measured by a parent that runs nothing else.
        let script = """
            import resource, subprocess, sys
            peaks = []
            for _ in range(3):
                pass
            r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)
            print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
            """
        var peaks: [Int] = []
        for _ in 0..<5 {
            let r = try runProcess("/usr/bin/python3", ["-c", script, binDir + "/ruko-run", "--", "true"])
            let parts = r.stdout.split(separator: " ")
            #expect(parts.first == "0")
            peaks.append(Int(parts.last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1)
        }
        #expect(peaks.allSatisfy { $0 > 0 && $0 < 40_000 }, "peak RSS kB: \(peaks)")
        #expect((peaks.max() ?? 0) - (peaks.min() ?? 0) < 2048, "peak RSS kB: \(peaks)")
    }
}
