"""Printers for batch/v1: jobs (STATUS, COMPLETIONS and DURATION as v1.32 shows them) and cron
jobs."""

from __future__ import annotations

from datetime import datetime

from .cells import (
    AGE,
    CONTAINERS,
    IMAGES,
    NAME,
    Cells,
    Column,
    Obj,
    Printer,
    age,
    bool_pointer,
    condition_true,
    deleting,
    doc,
    elapsed,
    format_label_selector,
    get,
    items,
    mapping,
    name,
    number,
    parse_time,
    since,
    template_containers,
    text,
)

SELECTOR = Column("Selector", priority=1, description=doc("batch.v1.JobSpec", "selector"))


def job_completions(job: Obj) -> str:
    """ "succeeded/completions", or "n/1 of parallelism" for a work queue without completions."""
    succeeded = number(job, "status", "succeeded")
    if get(job, "spec", "completions") is not None:
        return f"{succeeded}/{number(job, 'spec', 'completions')}"
    parallelism = number(job, "spec", "parallelism")
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def job_duration(job: Obj, now: datetime) -> str:
    """From start to completion, or to now while running; "" before it starts."""
    started = parse_time(get(job, "status", "startTime"))
    if started is None:
        return ""
    return elapsed(parse_time(get(job, "status", "completionTime")) or now, started)


def job_status(job: Obj) -> str:
    conditions = items(job, "status", "conditions")
    if condition_true(conditions, "Complete"):
        return "Complete"
    if condition_true(conditions, "Failed"):
        return "Failed"
    if deleting(job):
        return "Terminating"
    if condition_true(conditions, "Suspended"):
        return "Suspended"
    if condition_true(conditions, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _jobs(job: Obj, now: datetime) -> Cells:
    return [
        name(job),
        job_status(job),
        job_completions(job),
        job_duration(job, now),
        age(job, now),
        *template_containers(job, "spec", "template"),
        format_label_selector(mapping(job, "spec", "selector")),
    ]


JOBS = Printer(
    (
        NAME,
        Column("Status", description="Status of the job."),
        Column("Completions", description=doc("batch.v1.JobStatus", "succeeded")),
        Column("Duration", description="Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ),
    _jobs,
)


def _cron_jobs(cron_job: Obj, now: datetime) -> Cells:
    last_schedule = get(cron_job, "status", "lastScheduleTime")
    job_spec = mapping(cron_job, "spec", "jobTemplate", "spec")
    return [
        name(cron_job),
        text(cron_job, "spec", "schedule"),
        text(cron_job, "spec", "timeZone", default="<none>"),
        bool_pointer(get(cron_job, "spec", "suspend") or False),  # defaulted to false
        len(items(cron_job, "status", "active")),
        "<none>" if last_schedule is None else since(now, last_schedule),
        age(cron_job, now),
        *template_containers(job_spec, "template"),
        format_label_selector(mapping(job_spec, "selector")),
    ]


CRON_JOBS = Printer(
    (
        NAME,
        Column("Schedule", description=doc("batch.v1.CronJobSpec", "schedule")),
        Column("Timezone", description=doc("batch.v1.CronJobSpec", "timeZone")),
        Column("Suspend", "boolean", doc("batch.v1.CronJobSpec", "suspend")),
        Column("Active", "integer", doc("batch.v1.CronJobStatus", "active")),
        Column("Last Schedule", description=doc("batch.v1.CronJobStatus", "lastScheduleTime")),
        AGE,
        CONTAINERS,
        IMAGES,
        SELECTOR,
    ),
    _cron_jobs,
)

PRINTERS = {"jobs": JOBS, "cronjobs": CRON_JOBS}
