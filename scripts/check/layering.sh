#!/usr/bin/env bash
# check:layering — the core knows nothing of Node: no file under native/core may include a Node,
# N-API, libuv or V8 header. The binding (native/binding) is the only layer that may. Two drivers
# (the addon and native/bench's bare echo server) depend on this rule holding.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
core="$root/native/core"
[ -d "$core" ] || { echo "check:layering: FAIL: no $core" >&2; exit 1; }
# Matches #include <napi.h>, "node_api.h", <uv.h>, <uv/...>, <v8.h>, <node.h>, <node_buffer.h>...
pattern='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]((napi|node_api|js_native_api)[^>"]*|uv\.h|uv/[^>"]*|v8[^>"]*\.h|node(_[a-z_]+)?\.h)[>"]'
if hits=$(grep -rnE "$pattern" "$core"); then
  echo "check:layering: FAIL: native/core includes Node/N-API/libuv/V8 headers:" >&2
  echo "${hits//$root\//}" >&2
  exit 1
fi
echo "check:layering: ok: $(find "$core" -type f \( -name '*.h' -o -name '*.cc' \) | wc -l) files under native/core include no Node header"
