"""kube-scheduler's metrics, by upstream name, in the default Prometheus registry (/metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SCHEDULE_ATTEMPTS = Counter(
    "scheduler_schedule_attempts_total",
    "Number of attempts to schedule pods, by the result. 'unschedulable' means a pod could not be "
    "scheduled, while 'error' means an internal scheduler problem.",
    ["result", "profile"],
)
ATTEMPT_DURATION = Histogram(
    "scheduler_scheduling_attempt_duration_seconds",
    "Scheduling attempt latency in seconds (scheduling algorithm + binding)",
    ["result", "profile"],
    buckets=[0.001 * 2**i for i in range(15)],
)
ALGORITHM_DURATION = Histogram(
    "scheduler_scheduling_algorithm_duration_seconds",
    "Scheduling algorithm latency in seconds",
    buckets=[0.001 * 2**i for i in range(15)],
)
PENDING_PODS = Gauge(
    "scheduler_pending_pods",
    "Number of pending pods, by the queue type. 'active' means number of pods in activeQ; 'backoff' "
    "means number of pods in backoffQ; 'unschedulable' means number of pods in unschedulablePods "
    "that the scheduler attempted to schedule and failed; 'gated' is the number of unschedulable "
    "pods that the scheduler never attempted to schedule because they are gated.",
    ["queue"],
)
PREEMPTION_ATTEMPTS = Counter(
    "scheduler_preemption_attempts_total", "Total preemption attempts in the cluster till now"
)
PREEMPTION_VICTIMS = Histogram(
    "scheduler_preemption_victims", "Number of selected preemption victims", buckets=[1, 2, 4, 8, 16, 32, 64]
)
