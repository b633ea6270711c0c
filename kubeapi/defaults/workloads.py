"""Defaults of the workload controllers (pkg/apis/apps/v1, batch/v1 and core/v1 defaults.go):
what `kubectl get deploy -o yaml` shows that nobody wrote. Each function changes its argument."""

from __future__ import annotations

from typing import Any

from kubeapi.defaults.pods import default_template

Object = dict[str, Any]

MAX_INT32 = 2**31 - 1
# The labels the job strategy adds on create (batch.kubernetes.io/* and their legacy forms).
JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")
CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"


def default_deployment(obj: Object) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    strategy = spec.get("strategy")
    if not isinstance(strategy, dict):
        strategy = spec["strategy"] = {}
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = strategy["rollingUpdate"] = {}
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    default_template(spec.get("template"))


def default_replica_set(obj: Object) -> None:
    spec = _spec(obj)
    spec.setdefault("replicas", 1)
    default_template(spec.get("template"))


def default_daemon_set(obj: Object) -> None:
    spec = _spec(obj)
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        strategy = spec["updateStrategy"] = {}
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = strategy["rollingUpdate"] = {}
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    default_template(spec.get("template"))


def default_stateful_set(obj: Object) -> None:
    spec = _spec(obj)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = spec.get("updateStrategy")
    if not isinstance(strategy, dict):
        strategy = spec["updateStrategy"] = {}
    if not strategy.get("type"):
        strategy["type"] = "RollingUpdate"
        if not isinstance(strategy.get("rollingUpdate"), dict):
            strategy["rollingUpdate"] = {}
    rolling = strategy.get("rollingUpdate")
    if strategy["type"] == "RollingUpdate" and isinstance(rolling, dict):
        rolling.setdefault("partition", 0)
    retention = spec.get("persistentVolumeClaimRetentionPolicy")
    if not isinstance(retention, dict):
        retention = spec["persistentVolumeClaimRetentionPolicy"] = {}
    for key in ("whenDeleted", "whenScaled"):
        if not retention.get(key):
            retention[key] = "Retain"
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    for claim in spec.get("volumeClaimTemplates") or []:
        if isinstance(claim, dict):
            claim_spec = claim.setdefault("spec", {})
            if isinstance(claim_spec, dict):
                claim_spec.setdefault("volumeMode", "Filesystem")
            status = claim.setdefault("status", {})
            if isinstance(status, dict):
                status.setdefault("phase", "Pending")  # SetDefaults_PersistentVolumeClaim runs here too
    default_template(spec.get("template"))


def default_job(obj: Object) -> None:
    """SetDefaults_Job. The template gets SetDefaults_PodSpec like any other, so a Job that names
    no restartPolicy gets "Always" and fails validation, as upstream's does."""
    spec = _spec(obj)
    default_job_spec(spec)
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    meta = obj.setdefault("metadata", {})
    if isinstance(labels, dict) and isinstance(meta, dict) and not meta.get("labels"):
        meta["labels"] = dict(labels)
    spec.setdefault("manualSelector", False)


def default_job_spec(spec: Object) -> None:
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    spec.setdefault("parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    policy = spec.get("podFailurePolicy")
    if isinstance(policy, dict):
        for rule in policy.get("rules") or []:
            for pattern in (rule or {}).get("onPodConditions") or []:
                if isinstance(pattern, dict) and not pattern.get("status"):
                    pattern["status"] = "True"
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if isinstance(policy, dict) else "TerminatingOrFailed"
    default_template(spec.get("template"))


def default_cron_job(obj: Object) -> None:
    """SetDefaults_CronJob. The job template's spec is a JobSpec but not a Job: it gets only the
    pod template's defaults; the CronJob controller's Job gets the rest when it is created."""
    spec = _spec(obj)
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict) and isinstance(job_template.get("spec"), dict):
        default_template(job_template["spec"].get("template"))


def default_replication_controller(obj: Object) -> None:
    """SetDefaults_ReplicationController: selector and labels from the template's labels."""
    spec = _spec(obj)
    template = spec.get("template")
    labels = (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    if isinstance(labels, dict):
        if not spec.get("selector"):
            spec["selector"] = dict(labels)
        meta = obj.setdefault("metadata", {})
        if isinstance(meta, dict) and not meta.get("labels"):
            meta["labels"] = dict(labels)
    spec.setdefault("replicas", 1)
    default_template(template)


def default_pod_template(obj: Object) -> None:
    default_template(obj.get("template"))


def job_selector_and_labels(job: Object, uid: str) -> Object:
    """What the job strategy adds on create unless `spec.manualSelector` is true: the template's
    job-name and controller-uid labels (both the batch.kubernetes.io/ and the legacy names, never
    overriding a label the user set) and a selector on batch.kubernetes.io/controller-uid. Call it
    after `apply_defaults` and before validation, with the uid the new Job gets.

    A Job without labels of its own ends up with the template's, these included: upstream's
    defaulting shares the template's label map with the Job (or, when the template had none,
    copies it again on every read). Labels that equal the template's are taken as that copy.
    """
    spec = job.setdefault("spec", {})
    if spec.get("manualSelector") is True:
        return job
    template = spec.setdefault("template", {})
    meta = template.setdefault("metadata", {})
    labels = meta.get("labels")
    if not isinstance(labels, dict):
        labels = meta["labels"] = {}
    job_meta = job.setdefault("metadata", {})
    shared = not job_meta.get("labels") or job_meta.get("labels") == labels
    name = str(job_meta.get("name") or "")
    for key in JOB_NAME_LABELS:
        labels.setdefault(key, name)
    for key in CONTROLLER_UID_LABELS:
        labels.setdefault(key, uid)
    selector = spec.get("selector")
    if not isinstance(selector, dict):
        selector = spec["selector"] = {}
    match_labels = selector.get("matchLabels")
    if not isinstance(match_labels, dict):
        match_labels = selector["matchLabels"] = {}
    match_labels.setdefault(CONTROLLER_UID_LABEL, uid)
    if shared:
        job_meta["labels"] = dict(labels)
    return job


def _spec(obj: Object) -> Object:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    return spec
