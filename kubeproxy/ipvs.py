"""Whether this kernel has IPVS, and the one line `--proxy-mode=ipvs` exits with.

kplane has no IPVS proxier: the kernels it has run on have no ip_vs module (issue 9 builds the mode only
once a test host has it). So mode ipvs always refuses before anything is touched, never half-configuring
the node, and says which of the two reasons applies and how to pick another mode.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

PROC_IP_VS = Path("/proc/net/ip_vs")
PICK_ANOTHER = "use --proxy-mode=nftables or --proxy-mode=iptables (or mode: nftables in the --config file)"


def _modprobe_dry_run() -> bool:
    """`modprobe -n ip_vs`: True if the module could be loaded (False without modprobe)."""
    modprobe = shutil.which("modprobe") or ("/sbin/modprobe" if Path("/sbin/modprobe").exists() else None)
    if modprobe is None:
        return False
    try:
        return subprocess.run([modprobe, "-n", "ip_vs"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def kernel_has_ipvs(proc_path: Path = PROC_IP_VS, modprobe: Callable[[], bool] = _modprobe_dry_run) -> bool:
    """IPVS is loaded (/proc/net/ip_vs exists) or loadable (`modprobe -n ip_vs` succeeds)."""
    return proc_path.exists() or modprobe()


def ipvs_refusal(has_ipvs: bool) -> str:
    """The one line mode ipvs exits with."""
    if not has_ipvs:
        return (
            'proxy mode "ipvs" needs IPVS in the kernel, and this kernel has none '
            f"(no {PROC_IP_VS}, `modprobe -n ip_vs` finds no module); {PICK_ANOTHER}"
        )
    return f'proxy mode "ipvs" is not implemented by kplane-proxy yet; {PICK_ANOTHER}'
