/// The script that runs the buildpacks inside the sandbox, as the build user.
///
/// Layout: `/ruko/buildpacks/I` private writable buildpack copies, `/ruko/available/NAME` the
/// buildpacks directory (read-only, for detection), `/ruko/env` ENV_DIR, `/ruko/cache/cache`
/// CACHE_DIR, `/ruko/out` results.
///
/// One sandbox run per build: detection (when no buildpack was chosen), then for each buildpack
/// `bin/detect` (for the framework name), `bin/compile`, `bin/release`. Each buildpack's stage
/// runs in a subshell that first sources the `export` files of the buildpacks before it, in
/// order. Results go to files in `/ruko/out`, which ruko-build reads afterwards without following
/// symlinks:
///
/// - `status`: `ok`, `none` (no buildpack detected the app), `incompatible I`, `missing I FILE`,
///   `compile I CODE`, `release I CODE`
/// - `selected`: the index chosen by detection
/// - `detect.I`: what `bin/detect` printed; `release.I`: what `bin/release` printed
enum Driver {
    static let cacheMount = "/ruko/cache"
    static let availableMount = "/ruko/available"
    static let scriptPath = "/ruko/build.sh"

    /// `bash build.sh auto NAME...` detects among the candidates; `bash build.sh list NAME...`
    /// runs every buildpack in order.
    static let script = #"""
        # ruko-build driver (generated; runs inside the build sandbox).
        mode=$1
        shift
        names=("$@")
        bps=/ruko/buildpacks
        out=/ruko/out
        cache=/ruko/cache/cache
        envdir=/ruko/env

        finish() { printf '%s\n' "$1" > "$out/status"; exit "${2:-1}"; }

        # stage PREVIOUS... -- COMMAND...: run a buildpack executable with the export files of
        # the earlier buildpacks sourced, in /app, stdin from /dev/null.
        stage() {
            (
                while [ "$1" != "--" ]; do
                    if [ -f "$bps/$1/export" ]; then
                        . "$bps/$1/export"
                    fi
                    shift
                done
                shift
                cd /app || exit 1
                exec "$@" < /dev/null
            )
        }

        selected=()
        if [ "$mode" = auto ]; then
            for i in "${!names[@]}"; do
                candidate=/ruko/available/${names[$i]}
                if [ -f "$candidate/bin/detect" ] && [ -x "$candidate/bin/detect" ]; then
                    if stage -- "$candidate/bin/detect" /app > "$out/detect.0" 2> /dev/null; then
                        printf '%s\n' "$i" > "$out/selected"
                        # The chosen buildpack's private writable copy.
                        cp -R -P --preserve=mode,timestamps "$candidate" "$bps/0" || finish "copy $i"
                        names=("${names[$i]}")
                        selected=(0)
                        break
                    fi
                fi
            done
            [ "${#selected[@]}" -gt 0 ] || finish none 3
        else
            selected=("${!names[@]}")
        fi

        done_list=()
        for i in "${selected[@]}"; do
            dir=$bps/$i
            if [ "$mode" != auto ]; then
                if [ -f "$dir/bin/detect" ]; then
                    [ -x "$dir/bin/detect" ] || finish "notexec $i bin/detect"
                    stage "${done_list[@]}" -- "$dir/bin/detect" /app > "$out/detect.$i" \
                        || finish "incompatible $i"
                fi
            fi
            framework=
            if [ -s "$out/detect.$i" ]; then
                IFS= read -r framework < "$out/detect.$i"
                framework=${framework%$'\r'}
            fi
            printf -- '-----> %s app detected\n' "${framework:-${names[$i]}}"
            [ -f "$dir/bin/compile" ] || finish "missing $i bin/compile"
            [ -x "$dir/bin/compile" ] || finish "notexec $i bin/compile"
            stage "${done_list[@]}" -- "$dir/bin/compile" /app "$cache" "$envdir"
            code=$?
            [ "$code" -eq 0 ] || finish "compile $i $code" 4
            if [ -f "$dir/bin/release" ]; then
                [ -x "$dir/bin/release" ] || finish "notexec $i bin/release"
                stage "${done_list[@]}" -- "$dir/bin/release" /app > "$out/release.$i"
                code=$?
                [ "$code" -eq 0 ] || finish "release $i $code" 5
            fi
            done_list+=("$i")
        done
        finish ok 0
        """#
}
