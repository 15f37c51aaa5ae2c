# Sourced by scripts/deps.d: installs Debian packages the tests need.
# apt-get update runs once per `make deps` (scripts/deps.sh passes the
# marker in ALOFT_APT_UPDATED), not once per package.

# have_cmd NAME: NAME is on PATH or in /usr/sbin (root's tools, when
# PATH lacks it).
have_cmd() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

# apt_update: apt-get update, unless this run did it already.
apt_update() {
  local marker=${ALOFT_APT_UPDATED:-}
  if [ -n "$marker" ] && [ -e "$marker" ]; then
    return 0
  fi
  apt-get update -qq >&2
  if [ -n "$marker" ]; then
    : >"$marker"
  fi
}

# apt_install COMMAND PACKAGE WHY: installs PACKAGE (which provides
# COMMAND) unless COMMAND is there already; silent then. Not root: says
# what to install and fails.
apt_install() {
  local cmd=$1 pkg=$2 why=$3
  have_cmd "$cmd" && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "deps: $cmd is missing; install it (apt-get install $pkg) as root" >&2
    return 1
  fi
  echo "deps: installing $cmd (Debian package $pkg) for $why" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt_update
  apt-get install -y -qq --no-install-recommends "$pkg" >&2
  have_cmd "$cmd"
}
