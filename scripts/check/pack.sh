#!/usr/bin/env bash
# Proves the npm package works from its prebuilds alone: packs the repo, installs the tarball into a
# fresh project with every compiler and python hidden from PATH, then loads it from CommonJS and
# from ESM, echoes messages with the ws client (over ws:// and over wss:// on the tls option; openssl
# stays on the PATH to make the certificate), and type-checks a consumer against the bundled
# .d.ts files (tsc --strict, module node16, both .cts and .mts).
#
#   npm run prebuildify && scripts/check/pack.sh          (CI)
#   scripts/check/pack.sh --prebuildify                   (runs npm run prebuildify first)
#   KEEP=1 scripts/check/pack.sh                          (keeps the scratch dir and prints it)
#
# Needs the npm registry or a warm npm cache for the consumer's dependencies (node-addon-api,
# node-gyp-build, ws, typescript, @types/node). `npm pack` runs the repo's `prepare` script
# (node-gyp rebuild + tsc), so the packing step itself needs the usual build tools; only the
# consumer side runs without them. Prints the scratch project dir as its last line on success when
# KEEP=1; other scripts (check/node18.sh) reuse it through $EPOLLWS_CONSUMER.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
step() { printf '\npack-check: == %s\n' "$*"; }
die() { printf 'pack-check: FAIL: %s\n' "$*" >&2; exit 1; }

if [ "${1:-}" = "--prebuildify" ]; then
  (cd "$root" && npm run prebuildify)
fi

shopt -s nullglob
x64=("$root"/prebuilds/linux-x64/*.node)
arm64=("$root"/prebuilds/linux-arm64/*.node)
shopt -u nullglob
[ ${#x64[@]} -gt 0 ] || die "no prebuilds/linux-x64/*.node; run npm run prebuildify first (or pass --prebuildify)"
[ ${#arm64[@]} -gt 0 ] || echo "pack-check: note: no prebuilds/linux-arm64 (scripts/prebuildify-arm64.sh); packing x64 only"
# A prebuild older than the native sources would ship yesterday's addon with today's lib/.
for f in "${x64[@]}" "${arm64[@]}"; do
  newer=$(find "$root/binding.gyp" "$root/native/core" "$root/native/binding" -newer "$f" -type f | head -3)
  [ -z "$newer" ] || die "$(basename "$(dirname "$f")") prebuild is older than: $(echo $newer); rebuild it"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/epollws-pack.XXXXXX")
if [ -n "${KEEP:-}" ]; then
  trap 'echo "pack-check: scratch kept in $work"' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi

# --- 1. npm pack ------------------------------------------------------------------------------
# `npm pack` would run `prepare` itself, but its output would mix with --json: run it first.
step "npm run prepare (node-gyp rebuild + tsc), npm pack"
(cd "$root" && npm run prepare)
(cd "$root" && npm pack --ignore-scripts --pack-destination "$work" --json > "$work/pack.json")
tarball=$(node -e 'const p=require(process.argv[1]);console.log(p[0].filename)' "$work/pack.json")
tarball="$work/$(basename "$tarball")"
[ -f "$tarball" ] || die "npm pack produced no tarball"
node -e '
  const [pack] = require(process.argv[1]);
  const files = pack.files.map((f) => f.path);
  const must = ["package.json", "dist/index.js", "dist/index.mjs", "dist/index.d.ts", "dist/index.d.mts",
                "binding.gyp", "CMakeLists.txt", "native/core/server.cc", "native/binding/addon.cc"];
  const missing = must.filter((f) => !files.includes(f));
  if (!files.some((f) => /^prebuilds\/linux-x64\/[^/]+\.node$/.test(f))) missing.push("prebuilds/linux-x64/*.node");
  const stray = files.filter((f) => /^(test|build|build-[^/]*|scripts|bench|examples|lib|node_modules)\/|^native\/bench\/build\//.test(f));
  if (missing.length) { console.error("missing from the tarball: " + missing.join(", ")); process.exit(1); }
  if (stray.length) { console.error("should not be in the tarball: " + stray.join(", ")); process.exit(1); }
  const pkg = require(process.argv[2]);
  for (const s of ["install", "preinstall", "postinstall"]) {
    if (pkg.scripts && pkg.scripts[s]) { console.error(`package.json has an ${s} script`); process.exit(1); }
  }
  if (pkg.gypfile !== false) { console.error("package.json needs \"gypfile\": false"); process.exit(1); }
  const kib = (pack.size / 1024).toFixed(0), unpacked = (pack.unpackedSize / 1024).toFixed(0);
  console.log(`${pack.filename}: ${files.length} files, ${kib} KiB packed, ${unpacked} KiB unpacked`);
  for (const f of files.filter((f) => f.startsWith("prebuilds/"))) console.log("  " + f);
' "$work/pack.json" "$root/package.json" || die "tarball contents"

# --- 2. A PATH without compilers --------------------------------------------------------------
step "consumer install with compilers hidden"
bin="$work/bin"
mkdir -p "$bin"
for tool in node npm npx sh bash env cat ls mkdir rm cp mv ln chmod dirname basename uname grep sed \
            tar gzip readlink realpath mktemp sort head tail tr openssl; do
  p=$(command -v "$tool" || true)
  [ -n "$p" ] && ln -s "$p" "$bin/$tool"
done
for tool in cc c++ gcc g++ clang clang++ make python python3 cmake node-gyp; do
  [ -e "$bin/$tool" ] && die "$tool leaked into the restricted PATH"
done
run() { env -i HOME="$HOME" PATH="$bin" TMPDIR="${TMPDIR:-/tmp}" \
            npm_config_cache="${npm_config_cache:-$HOME/.npm}" "$@"; }
run sh -c 'command -v cc || command -v g++ || command -v python3 || command -v make' \
  && die "a compiler or python is still reachable"

consumer="$work/consumer"
mkdir -p "$consumer"
cat > "$consumer/package.json" <<'JSON'
{ "name": "epollws-consumer", "version": "1.0.0", "private": true, "type": "commonjs" }
JSON
ws_version=$(node -p "require('$root/node_modules/ws/package.json').version")
ts_version=$(node -p "require('$root/node_modules/typescript/package.json').version")
types_version=$(node -p "require('$root/node_modules/@types/node/package.json').version")
# Install scripts stay enabled: if anything tried to compile (an install script, npm's implicit
# node-gyp rebuild), it would fail here for want of a compiler.
(cd "$consumer" && run npm install --no-audit --no-fund --prefer-offline "$tarball" \
   "ws@$ws_version" "typescript@$ts_version" "@types/node@$types_version") > "$work/install.log" 2>&1 \
  || { cat "$work/install.log"; die "npm install of the tarball failed"; }
cat "$work/install.log"
# npm lists `prepare` for tarball and git sources (never for registry installs, and it does not run
# it for a tarball); anything else it lists (install, postinstall, the implicit node-gyp rebuild)
# would be a real install script.
if grep -E '^npm warn install-scripts +epollws@' "$work/install.log" | grep -vE '\(prepare: [^;]*\)$'; then
  die "npm sees an install script in epollws"
fi
[ -e "$consumer/node_modules/epollws/build" ] && die "something built node_modules/epollws/build at install"
(cd "$consumer" && run npm ls --depth=0)

# --- 3. CommonJS require ----------------------------------------------------------------------
step "require('epollws')"
cp "$root/scripts/packaging/echo-check.js" "$consumer/echo-check.js"
(cd "$consumer" && run node echo-check.js epollws --expect-binary node_modules/epollws/prebuilds/linux-x64/) \
  || die "CommonJS require + echo"

# --- 4. ESM import ----------------------------------------------------------------------------
step "import 'epollws'"
cp "$root/scripts/packaging/esm-check.mjs" "$consumer/esm-check.mjs"
(cd "$consumer" && run node esm-check.mjs) || die "ESM import + echo"

# --- 5. TypeScript against the bundled types --------------------------------------------------
step "tsc --noEmit --strict (module node16) against the bundled .d.ts"
cat > "$consumer/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "module": "node16",
    "moduleResolution": "node16",
    "target": "ES2022",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": false,
    "types": ["node"]
  },
  "files": ["consumer.cts", "consumer.mts"]
}
JSON
cat > "$consumer/consumer.cts" <<'TS'
import { WebSocketServer, WebSocket, OPEN, WebSocketError } from 'epollws';
import type { ServerOptions } from 'epollws';

const options: ServerOptions = { port: 0, host: '127.0.0.1', maxPayload: 1 << 20 };
const server = new WebSocketServer(options);
server.on('connection', (socket: WebSocket) => {
  socket.on('message', (data: Buffer, isBinary: boolean) => {
    if (socket.readyState === OPEN) socket.send(data, { binary: isBinary });
  });
  socket.on('error', (error: Error) => {
    if (error instanceof WebSocketError) console.error(error.code);
  });
});
void server.close();
TS
cat > "$consumer/consumer.mts" <<'TS'
import { WebSocketServer, WebSocket } from 'epollws';

const server = new WebSocketServer({ port: 0 });
server.on('connection', (socket: WebSocket) => socket.close(1000, 'bye'));
await server.close();
TS
(cd "$consumer" && run node node_modules/typescript/bin/tsc -p tsconfig.json) || die "tsc against the bundled types"
echo "pack-check: tsc ok"

step "all checks passed"
[ -n "${KEEP:-}" ] && echo "$consumer"
exit 0
