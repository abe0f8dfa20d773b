#!/usr/bin/env bash
# bench/lab_boot.sh [RUNS]: boot time of a real Linux guest, vsbd beside
# QEMU, inside the lab's virtual compute node (lab/README.md), same guest
# image, same node boot. For each of RUNS rounds (default 3) the node starts
# vsbd, then QEMU (-enable-kvm, serial console on stdio), each through
# guest-session, and takes the seconds from starting the VMM to the first
# "guest# " prompt after "vsb-guest: ready"; then it types poweroff and waits
# for the VMM to exit. Prints one line per boot, then median and min per VMM
# and the ratio vsbd/qemu of the medians.
#
# The node is rebuilt with QEMU and its firmware in it; on exit the default
# node (lab/build, no arguments) is restored for other users of the lab.
# Run after make. Timing resolution is about 0.1 s (guest-session polls).
set -euo pipefail

runs=${1:-3}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "usage: bench/lab_boot.sh [RUNS]" >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
[[ -x $top/build/vsbd ]] || { echo "bench/lab_boot.sh: no build/vsbd; run make" >&2; exit 1; }
qemu=$(command -v qemu-system-x86_64) ||
  { echo "bench/lab_boot.sh: qemu-system-x86_64 not installed" >&2; exit 1; }

out=$(mktemp)
trap 'rm -f "$out"; "$top/lab/build" >/dev/null 2>&1 || echo "bench/lab_boot.sh: restoring the default node failed; run lab/build" >&2' EXIT

# QEMU's firmware for a -kernel boot, as `strace -e trace=openat` shows it
# opening with the command below (QEMU 7.2, Debian 12): SeaBIOS, the option
# ROM that loads the kernel and the TPR-patching ROM. -nodefaults and
# -display none leave out VGA and NIC ROMs; with KVM no dlopen'ed module is
# loaded (accel-tcg is only for TCG).
"$top/lab/build" --file /usr/share/seabios/bios-256k.bin \
  --file /usr/share/qemu/linuxboot_dma.bin --file /usr/share/qemu/kvmvapic.bin \
  "$top/build/vsbd" "$qemu"

# The node's script (busybox sh). Both VMMs get the same kernel, initrd,
# command line, RAM and vCPUs; QEMU's -cpu host matches vsbd, which gives
# the guest all the CPUID KVM supports.
script=$(cat <<'EOF'
QEMU="qemu-system-x86_64 -enable-kvm -cpu host -m 512M -smp 2 -nodefaults
  -no-user-config -display none -serial stdio -no-reboot
  -kernel /guest/vmlinuz -initrd /guest/initrd.cpio.gz"
# boot NAME START-ARGS...: one measured boot; prints "boot NAME I SECONDS".
boot() {
  name=$1; shift
  "$@"
  if guest-session expect "vsb-guest: ready" 300 >/dev/null &&
     guest-session expect "guest# " 60 >/dev/null; then
    t=$(guest-session elapsed)
    guest-session send poweroff
    echo "boot $name $i $t exit=$(guest-session wait 60)"
  else
    echo "boot $name $i failed exit=$(guest-session stop)"
    guest-session output | tail -n 20
  fi
}
i=1
while [ "$i" -le "$RUNS" ]; do
  boot vsbd guest-session start -m 512M -c 2 -i /guest/initrd.cpio.gz \
    -a "console=ttyS0 panic=-1" /guest/vmlinuz
  # $QEMU is split into words on purpose; the append string is one word.
  boot qemu guest-session start-cmd $QEMU -append "console=ttyS0 panic=-1"
  i=$((i + 1))
done
EOF
)

"$top/lab/run" --no-build --timeout $((300 + runs * 200)) -- "RUNS=$runs"$'\n'"$script" | tee "$out"

# Median (mean of the middle two for an even count) and min per VMM.
awk '
  $1 == "boot" && $4 ~ /^[0-9.]+$/ { t[$2, ++n[$2]] = $4 }
  function stats(v,   i, j, k, x, a) {
    k = n[v]
    for (i = 1; i <= k; i++) a[i] = t[v, i]
    for (i = 2; i <= k; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    med[v] = (k % 2) ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    printf "%-5s %4d %9.2f %7.2f\n", v, k, med[v], a[1]
  }
  END {
    if (!n["vsbd"] || !n["qemu"]) { print "bench/lab_boot.sh: missing measurements" > "/dev/stderr"; exit 1 }
    print "VMM start to guest shell prompt, in the lab node (s):"
    printf "%-5s %4s %9s %7s\n", "vmm", "runs", "median s", "min s"
    stats("vsbd"); stats("qemu")
    printf "ratio vsbd/qemu (median): %.2f\n", med["vsbd"] / med["qemu"]
  }' "$out"
