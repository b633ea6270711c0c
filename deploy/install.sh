#!/usr/bin/env bash
# Installs kplane on Debian 12, as root: OS packages, a virtualenv with the project (editable) and
# its dev tools, and the console scripts on PATH. Idempotent: run it again at any time.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if [ "$(id -u)" -ne 0 ]; then
    echo "install.sh: error: run as root (kplane manages containerd, iptables and network namespaces)" >&2
    exit 1
fi

os_packages=(containerd runc containernetworking-plugins iptables nftables iproute2 busybox-static
             etcd-server etcd-client openssl gcc libc6-dev python3 python3-venv python3-dev)
missing=()
for package in "${os_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install.sh: installing ${missing[*]}"
    # Keep Debian's own etcd and containerd from starting while installed: kplane runs its own.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# If a package's service did start (or was enabled earlier), stop and disable it.
for service in etcd containerd; do
    if [ -d /run/systemd/system ]; then
        systemctl disable --now "$service" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$service" ]; then
        "/etc/init.d/$service" stop >/dev/null 2>&1 || true
        update-rc.d "$service" disable >/dev/null 2>&1 || true
    fi
done

python=${KPLANE_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install --quiet -e '.[dev]'

for script in kplane kplane-etcd kplane-apiserver kplane-scheduler kplane-controller-manager kplane-kubelet kplane-proxy; do
    ln -sf "$repo/.venv/bin/$script" "/usr/local/bin/$script"
done
echo "install.sh: kplane $(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("kplane"))') installed; try: kplane up"
