#!/bin/sh
# install-deps.sh — installs the Debian packages the real-kernel lane (npm run test:kernel) needs.
# Called by .ci/run before `npm run test:kernel`. Idempotent and quiet: when every package is
# already installed it does nothing (no apt-get update); otherwise it runs apt-get update + install.
set -eu

PACKAGES="linux-source-6.12 qemu-system-x86 busybox-static build-essential bc flex bison libelf-dev libssl-dev cpio xz-utils"

missing=""
for p in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing="$missing $p"
  fi
done

if [ -z "$missing" ]; then
  echo "install-deps: all kernel-lane packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done"
