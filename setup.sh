#!/usr/bin/env bash
# Set up everything the planner and its tests need on Debian 12, as root:
#   apt packages (Python, qemu, busybox, libvirt, Chromium), a venv in .venv with the
#   package installed non-editable with its extras, and the cached Debian kernels the
#   tests boot. Idempotent: a second run only checks and reinstalls the package.
# Usage: ./setup.sh            (then .venv/bin/planner ..., .venv/bin/pytest)
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive

APT_PACKAGES=(
  python3 python3-venv python3-dev gcc pkg-config          # Python, and building libvirt-python
  libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
  qemu-system-x86 qemu-system-misc                         # x86-64 and s390x guests (TCG)
  busybox-static cpio                                      # bootlab initramfs
  chromium fonts-dejavu-core                               # report tests in headless Chromium
  ca-certificates
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! dpkg --print-foreign-architectures | grep -qx s390x; then
  echo "setup: adding the dpkg architecture s390x (bootlab downloads s390x kernels and busybox with apt-get download)"
  dpkg --add-architecture s390x
  need_update=1
fi
if ((${#missing[@]})) || [[ -n "${need_update:-}" ]]; then
  echo "setup: apt-get install ${missing[*]:-}"
  apt-get update -q
  ((${#missing[@]})) && apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [[ ! -x .venv/bin/python ]]; then
  /usr/bin/python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q '.[libvirt,report,dev]'

.venv/bin/planner fetch --quiet
