#!/usr/bin/env bash
# Install every Debian package the project needs and fetch guest kernels and
# busybox from Debian packages into a cache folder. Idempotent: a second run
# installs and downloads nothing.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${VSB_CACHE:-$top/.cache}

# Build tools, libraries and the real clients the tests drive.
packages=(
  build-essential make pkg-config
  libcmocka-dev
  qemu-system-x86 qemu-utils
  python3 socat expect file cpio xz-utils zstd
  dpkg-dev
  # lab/build: modinfo (kmod) reads the Debian kernel modules' dependencies
  kmod
  # make fuzz: clang, and the compiler-rt runtimes (libFuzzer, ASan, UBSan)
  # that clang-14 only recommends
  clang libclang-rt-14-dev
  # remote access: the SSH and VNC servers inside vsbd
  libssh-dev libvncserver-dev
  # vmi/: libbpf reads the guest kernel's BTF (struct layouts); jansson
  # speaks JSON to QEMU's QMP; a static libc for the test guest's program
  libbpf-dev libelf-dev libjansson-dev libc6-dev
  # cryptvmi/: libsodium, HTTPS servers (libmicrohttpd, GnuTLS) and clients
  # (libcurl), SQLite; certtool makes test certificates, curl is a client
  libsodium-dev libmicrohttpd-dev libgnutls28-dev libcurl4-gnutls-dev
  libsqlite3-dev sqlite3 gnutls-bin curl
  # real clients in the tests: ssh, a VNC viewer under Xvfb driven by
  # xdotool, vncsnapshot; kbd's console fonts for the framebuffer guest
  openssh-client tigervnc-viewer xvfb xdotool x11-apps vncsnapshot kbd
  python3-pil
  # operator/: vsb-ghv sandboxes itself with seccomp; e2fsprogs makes the
  # disk images it serves; acpica-tools' iasl checks vsbd's ACPI tables
  libseccomp-dev e2fsprogs acpica-tools
  # bench/: the report's plots (scripts/bench)
  gnuplot-nox fonts-dejavu-core
)

log() { printf 'setup: %s\n' "$*"; }

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# fetch_pkg NAME: download NAME's .deb into the cache and unpack it once.
fetch_pkg() {
  local name=$1 dir=$cache/pkgs/$1
  [[ -f $dir/.unpacked ]] && return 0
  mkdir -p "$dir"
  log "fetching $name from Debian"
  (cd "$cache/pkgs" && { apt-get download -qq "$name" 2>/dev/null ||
    { apt-get update -qq && apt-get download -qq "$name"; }; })
  dpkg-deb -x "$cache/pkgs/${name}"_*.deb "$dir"
  rm -f "$cache/pkgs/${name}"_*.deb
  touch "$dir/.unpacked"
}

mkdir -p "$cache/pkgs"
# The Debian kernel: resolve the linux-image-amd64 metapackage to its image.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [[ -z $kpkg ]]; then
  apt-get update -qq
  kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
fi
[[ -n $kpkg ]] || { echo "setup: cannot resolve linux-image-amd64" >&2; exit 1; }
fetch_pkg "$kpkg"
fetch_pkg busybox-static

ln -sfn "pkgs/$kpkg" "$cache/kernel"
vmlinuz=$(ls "$cache/kernel/boot"/vmlinuz-* | head -n1)
ln -sfn "$vmlinuz" "$cache/vmlinuz"
ln -sfn "pkgs/busybox-static/bin/busybox" "$cache/busybox"
log "ready: kernel $(basename "$vmlinuz"), busybox, packages"
