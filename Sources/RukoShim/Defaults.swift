/// The archiver the executable uses.
public typealias DefaultArchiver = TarArchiver

/// The builder the executable uses (replaced by the RukoBuild adapter once RukoBuild lands).
public struct DefaultBuilder: SlugBuilder {
    public init(config: ShimConfig) {}
    public func build(_ job: BuildJob, output: @escaping @Sendable (String) -> Void) throws(ShimError) -> BuiltSlug {
        throw ShimError("this ruko-shim was built without RukoBuild", code: .buildFailed)
    }
}
