import RukoBuild

/// The deploy build through RukoBuild's `Builder`: buildpacks run in their own sandbox, output
/// lines are handed on as they are produced.
public struct RukoBuilder: SlugBuilder {
    public var config: ShimConfig

    public init(config: ShimConfig) { self.config = config }

    public func build(_ job: BuildJob, output: @escaping @Sendable (String) -> Void) throws(ShimError) -> BuiltSlug {
        var request = BuildRequest(appDirectory: job.sourceDirectory, outputPath: job.slugPath)
        request.cacheDirectory = job.cacheDirectory
        // BUILDPACK_URL among the config vars selects the buildpack (the builder reads it there).
        request.environment = job.environment
        if let url = job.buildpackURL, job.environment["BUILDPACK_URL"] == nil { request.buildpacks = [url] }
        if let directory = config.buildpacksDirectory { request.buildpacksDirectory = directory }
        if let size = job.limits?.maxSlugSize.flatMap(parseSize) { request.maxSlugSize = size }
        if let seconds = job.limits?.timeout.flatMap(ShimConfig.parseDuration) {
            request.timeout = .milliseconds(Int64(seconds * 1000))
        }
        request.limits = .init(memoryBytes: job.limits?.memory.flatMap(parseSize), pids: job.limits?.pids)
        request.sourceVersion = job.commit
        request.template = job.template
        request.allowMissingControllers = config.allowMissingControllers
        request.workDirectory = config.stateDirectory + "/work"
        request.cancellation = job.cancellation
        do {
            let result = try Builder(request: request).run { line in output(line.text) }
            return BuiltSlug(
                path: result.slugPath, sha256: result.sha256, size: Int64(result.size),
                processTypes: result.processTypes,
                buildpack: result.buildpacks.joined(separator: ", "), stack: result.stack)
        } catch {
            for line in error.formattedLines { output(line) }
            throw ShimError("Push failed", code: .buildFailed)
        }
    }
}
