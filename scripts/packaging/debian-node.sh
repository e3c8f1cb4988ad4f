# Sourced by check/node18.sh and check/arm64.sh: fetches Debian's own Node 18 runtime (nodejs +
# libnode108 and the libraries it links) for one architecture with `apt-get download`, and unpacks
# the packages aside with `dpkg -x` (never into /). Debian 12 (bookworm) ships Node 18.
#
#   debian_node_root <arch> <extra packages...>    prints the unpacked root (cached between runs)
#
# Cache: $EPOLLWS_PKG_CACHE, default ~/.cache/epollws-packaging/<arch>/{debs,root}.

# The JS libraries Debian's node loads from /usr/share/nodejs at start-up (externalized builtins),
# and the shared libraries libnode108 links that a stock system may lack.
DEBIAN_NODE_PACKAGES=(nodejs libnode108 libuv1 libc-ares2 libnghttp2-14 libbrotli1 libicu72
                      node-acorn node-cjs-module-lexer node-undici)

debian_node_root() {
  local arch=$1; shift
  local cache=${EPOLLWS_PKG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/epollws-packaging}/$arch
  local debs=$cache/debs root=$cache/root
  if [ ! -x "$root/usr/bin/node" ]; then
    command -v apt-get >/dev/null && command -v dpkg >/dev/null \
      || { echo "debian-node: needs apt-get and dpkg (Debian 12 or a Debian-based image)" >&2; return 1; }
    if [ "$arch" != "$(dpkg --print-architecture)" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
      echo "debian-node: adding the $arch architecture to apt (dpkg --add-architecture $arch)" >&2
      dpkg --add-architecture "$arch" && apt-get update -qq >&2
    fi
    # Debian's own Node 18 (another nodejs, e.g. NodeSource's, may be the installed candidate).
    local version
    version=$(apt-cache madison "nodejs:$arch" 2>/dev/null | awk -F'|' '$2 ~ /^ *18\./ {gsub(/ /, "", $2); print $2; exit}')
    [ -n "$version" ] || { echo "debian-node: apt knows no nodejs 18 for $arch (needs Debian 12 sources)" >&2; return 1; }
    mkdir -p "$debs"
    local pkgs=() p
    for p in "${DEBIAN_NODE_PACKAGES[@]}" "$@"; do
      case $p in
        nodejs|libnode108) pkgs+=("$p:$arch=$version") ;;
        node-*) pkgs+=("$p") ;;              # architecture: all
        *) pkgs+=("$p:$arch") ;;
      esac
    done
    echo "debian-node: apt-get download nodejs $version for $arch" >&2
    (cd "$debs" && apt-get download "${pkgs[@]}" >&2) || return 1
    rm -rf "$root.tmp" && mkdir -p "$root.tmp"
    for p in "$debs"/*.deb; do dpkg -x "$p" "$root.tmp"; done
    rm -rf "$root" && mv "$root.tmp" "$root"
  fi
  echo "$root"
}
