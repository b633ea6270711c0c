"""Container probes: liveness, readiness and startup (upstream pkg/kubelet/prober).

`ProbeManager` runs one worker per probe; `worker_state.ProbeState` is the pure per-probe state
machine; the runners (exec over CRI, httpGet, tcpSocket, grpc) each do one attempt.
"""

from kubelet.prober.manager import ProbeManager
from kubelet.prober.spec import ProbeType, Result
from kubelet.prober.worker_state import RunningContainer

__all__ = ["ProbeManager", "ProbeType", "Result", "RunningContainer"]
