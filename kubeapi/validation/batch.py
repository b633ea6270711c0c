"""Validation of batch/v1 (pkg/apis/batch/validation): Jobs whose pods finish, their generated
selectors, what may change once a Job exists, and CronJob schedules parsed as robfig/cron/v3's
ParseStandard parses them (the CronJob controller's parser), with its error messages."""

from __future__ import annotations

import re
import zoneinfo
from typing import Any

from kubeapi.errors import Cause
from kubeapi.validation import invalid, not_supported, required
from kubeapi.validation.meta import (
    as_dict,
    go_label_selector,
    go_string_map,
    immutable,
    non_negative,
    selector_matches_template,
    selector_of,
    shown,
    string_map,
    validate_label_selector,
    validate_meta,
)
from kubeapi.validation.names import is_dns1123_label, name_is_dns_subdomain
from kubeapi.validation.pods import validate_pod_template_spec

Object = dict[str, Any]

JOB_NAME_LABELS = ("job-name", "batch.kubernetes.io/job-name")
CONTROLLER_UID_LABELS = ("controller-uid", "batch.kubernetes.io/controller-uid")
MAX_CRON_JOB_NAME = 52  # a Job's name is the CronJob's plus an 11-character suffix


def validate_job(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    meta, spec = as_dict(obj.get("metadata")), as_dict(obj.get("spec"))
    old_template = as_dict(as_dict(as_dict(old or {}).get("spec")).get("template"))
    old_labels = string_map(as_dict(old_template.get("metadata")).get("labels"))
    prefixed = old is None or all(
        k in old_labels for k in ("batch.kubernetes.io/job-name", CONTROLLER_UID_LABELS[1])
    )
    causes += _generated_selector(meta, spec, prefixed)
    causes += validate_job_spec(spec, "spec")
    causes += _selector_required(spec)
    if (
        spec.get("completionMode") == "Indexed"
        and isinstance(spec.get("completions"), int)
        and spec["completions"] > 0
    ):
        hostname = f"{meta.get('name', '')}-{spec['completions'] - 1}"
        if is_dns1123_label(hostname):
            detail = f"will not able to create pod with invalid DNS label: {hostname}"
            causes.append(invalid("metadata.name", str(meta.get("name", "")), detail))
    if old is not None:
        causes += _job_update(spec, as_dict(old.get("spec")))
    return causes


def _selector_required(spec: Object) -> list[Cause]:
    selector = spec.get("selector")
    causes = (
        [required("spec.selector")]
        if selector is None
        else validate_label_selector(selector, "spec.selector")
    )
    return causes + selector_matches_template(selector, spec.get("template"), "spec.template")


def _generated_selector(meta: Object, spec: Object, prefixed: bool) -> list[Cause]:
    """validateGeneratedSelector: without manualSelector, the template carries the job's labels."""
    if spec.get("manualSelector") is True or spec.get("selector") is None:
        return []
    causes: list[Cause] = []
    uid, name = str(meta.get("uid") or ""), str(meta.get("name") or "")
    if not uid:
        causes.append(required("metadata.uid"))
    labels = string_map(as_dict(as_dict(spec.get("template")).get("metadata")).get("labels"))
    expected = {"controller-uid": uid, "job-name": name}
    if prefixed:
        expected |= {"batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name}
    order = ["controller-uid", "job-name"] + (
        ["batch.kubernetes.io/controller-uid", "batch.kubernetes.io/job-name"] if prefixed else []
    )
    for key in order:
        path = f"spec.template.metadata.labels[{key}]"
        if key not in labels:
            causes.append(required(path, f"must be '{expected[key]}'"))
        elif labels[key] != expected[key]:
            causes.append(shown(path, go_string_map(labels), f"must be '{expected[key]}'"))
    converted = selector_of(spec.get("selector"))
    if converted is not None and not converted.matches(expected):
        causes.append(
            shown("spec.selector", go_label_selector(spec.get("selector")), "`selector` not auto-generated")
        )
    return causes


def validate_job_spec(spec: Object, field: str) -> list[Cause]:
    """validateJobSpec: what Jobs and CronJob job templates share."""
    causes: list[Cause] = []
    for key in (
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ):
        causes += non_negative(spec.get(key), f"{field}.{key}")
    if spec.get("maxFailedIndexes") is not None and spec.get("backoffLimitPerIndex") is None:
        causes.append(required(f"{field}.backoffLimitPerIndex", "when maxFailedIndexes is specified"))
    mode = spec.get("completionMode")
    if mode is not None:
        if mode not in ("NonIndexed", "Indexed"):
            causes.append(not_supported(f"{field}.completionMode", mode, ("NonIndexed", "Indexed")))
        if mode == "Indexed" and spec.get("completions") is None:
            causes.append(required(f"{field}.completions", "when completion mode is Indexed"))
    if mode in (None, "NonIndexed"):
        for key in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if spec.get(key) is not None:
                causes.append(invalid(f"{field}.{key}", spec[key], "requires indexed completion mode"))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None:
        if spec.get("podFailurePolicy") is not None:
            if replacement != "Failed":
                causes.append(not_supported(f"{field}.podReplacementPolicy", replacement, ("Failed",)))
        elif replacement not in ("Failed", "TerminatingOrFailed"):
            causes.append(
                not_supported(f"{field}.podReplacementPolicy", replacement, ("Failed", "TerminatingOrFailed"))
            )
    template = spec.get("template")
    causes += validate_pod_template_spec(template, f"{field}.template")
    policy = as_dict(as_dict(template).get("spec")).get("restartPolicy", "")
    path = f"{field}.template.spec.restartPolicy"
    if policy in ("Always", ""):
        causes.append(required(path, 'valid values: "OnFailure", "Never"'))
    elif policy not in ("OnFailure", "Never"):
        causes.append(not_supported(path, policy, ("OnFailure", "Never")))
    elif spec.get("podFailurePolicy") is not None and policy != "Never":
        causes.append(invalid(path, policy, 'only "Never" is supported when podFailurePolicy is specified'))
    return causes


def _job_update(spec: Object, old_spec: Object) -> list[Cause]:
    """Completions, selector, template and completion mode are fixed once a Job exists (a
    suspended Job that never started may still change its scheduling directives)."""
    causes = immutable(spec.get("completions"), old_spec.get("completions"), "spec.completions")
    causes += immutable(spec.get("selector"), old_spec.get("selector"), "spec.selector", go_label_selector)
    template, old_template = as_dict(spec.get("template")), as_dict(old_spec.get("template"))
    if old_spec.get("suspend") is True:
        template = _with_scheduling_of(old_template, template)
    if template != old_template:
        causes.append(shown("spec.template", "core.PodTemplateSpec{...}", "field is immutable"))
    causes += immutable(spec.get("completionMode"), old_spec.get("completionMode"), "spec.completionMode")
    for key in ("podFailurePolicy", "backoffLimitPerIndex"):
        if spec.get(key) != old_spec.get(key):
            causes.append(shown(f"spec.{key}", str(spec.get(key)), "field is immutable"))
    return causes


def _with_scheduling_of(old_template: Object, template: Object) -> Object:
    """The new template with the old one's mutable scheduling parts, for the equality check."""
    merged = dict(template)
    old_meta = as_dict(old_template.get("metadata"))
    meta = dict(as_dict(template.get("metadata")))
    for key in ("labels", "annotations"):
        meta[key] = old_meta.get(key)
    merged["metadata"] = {k: v for k, v in meta.items() if v is not None}
    spec = dict(as_dict(template.get("spec")))
    old_spec = as_dict(old_template.get("spec"))
    for key in ("nodeSelector", "tolerations", "schedulingGates", "affinity"):
        if key in old_spec:
            spec[key] = old_spec[key]
        else:
            spec.pop(key, None)
    merged["spec"] = spec
    return merged


# ---- CronJob ----


def validate_cron_job(obj: Object, old: Object | None) -> list[Cause]:
    causes = validate_meta(obj, True, name_is_dns_subdomain)
    spec = as_dict(obj.get("spec"))
    old_spec = as_dict(old.get("spec")) if old is not None else None
    schedule = str(spec.get("schedule") or "")
    if not schedule:
        causes.append(required("spec.schedule"))
    else:
        allow_tz = old_spec is not None and "TZ" in str(old_spec.get("schedule") or "")
        causes += _validate_schedule(schedule, allow_tz, spec.get("timeZone"), "spec.schedule")
    causes += non_negative(spec.get("startingDeadlineSeconds"), "spec.startingDeadlineSeconds")
    if old_spec is None or old_spec.get("timeZone") != spec.get("timeZone"):
        causes += _validate_time_zone(spec.get("timeZone"), "spec.timeZone")
    policy = spec.get("concurrencyPolicy", "")
    if policy == "":
        causes.append(required("spec.concurrencyPolicy"))
    elif policy not in ("Allow", "Forbid", "Replace"):
        causes.append(not_supported("spec.concurrencyPolicy", policy, ("Allow", "Forbid", "Replace")))
    job_spec = as_dict(as_dict(spec.get("jobTemplate")).get("spec"))
    causes += validate_job_spec(job_spec, "spec.jobTemplate.spec")
    if job_spec.get("selector") is not None:
        shown_selector = go_label_selector(job_spec["selector"])
        causes.append(
            shown("spec.jobTemplate.spec.selector", shown_selector, "`selector` will be auto-generated")
        )
    if job_spec.get("manualSelector") is True:
        causes.append(not_supported("spec.jobTemplate.spec.manualSelector", True, ("nil", "false")))
    causes += non_negative(spec.get("successfulJobsHistoryLimit"), "spec.successfulJobsHistoryLimit")
    causes += non_negative(spec.get("failedJobsHistoryLimit"), "spec.failedJobsHistoryLimit")
    name = str(as_dict(obj.get("metadata")).get("name") or "")
    if old is None and len(name) > MAX_CRON_JOB_NAME:
        causes.append(invalid("metadata.name", name, "must be no more than 52 characters"))
    return causes


def _validate_schedule(schedule: str, allow_tz: bool, time_zone: Any, field: str) -> list[Cause]:
    causes: list[Cause] = []
    problem = cron_error(schedule)
    if problem:
        causes.append(invalid(field, schedule, problem))
    if allow_tz and "TZ" in schedule and time_zone is not None:
        causes.append(
            invalid(field, schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule")
        )
    elif not allow_tz and "TZ" in schedule:
        causes.append(
            invalid(field, schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
        )
    return causes


_TZ_PART = re.compile(r"[A-Za-z.\-_0-9+]{1,14}")


def _validate_time_zone(zone: Any, field: str) -> list[Cause]:
    if zone is None:
        return []
    zone = str(zone)
    if not zone:
        return [invalid(field, zone, "timeZone must be nil or non-empty string")]
    for part in zone.split("/"):
        if part in (".", "..") or part.startswith("-") or not _TZ_PART.fullmatch(part):
            return [invalid(field, zone, f"unknown time zone {zone}")]
    if zone.lower() == "local":
        return [
            invalid(
                field,
                zone,
                "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones",
            )
        ]
    if not _known_zone(zone):
        return [invalid(field, zone, f"unknown time zone {zone}")]
    return []


def _known_zone(zone: str) -> bool:
    if zone == "UTC":
        return True
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


# ---- robfig/cron/v3 ParseStandard ----

_DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    )
}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_BOUNDS: tuple[tuple[int, int, dict[str, int]], ...] = (
    (0, 59, {}),  # minute
    (0, 23, {}),  # hour
    (1, 31, {}),  # day of month
    (1, 12, _MONTHS),
    (0, 6, _DAYS),
)
_DURATION_UNITS = ("ns", "us", "µs", "μs", "ms", "s", "m", "h")


def cron_error(spec: str) -> str | None:
    """The error cron.ParseStandard returns for a schedule, or None when it parses."""
    if not spec:
        return "empty spec string"
    if spec.startswith(("TZ=", "CRON_TZ=")):
        space, eq = spec.find(" "), spec.find("=")
        location = spec[eq + 1 : space] if space >= 0 else spec[eq + 1 :]
        if space < 0 or not _known_zone(location):
            return f"provided bad location {location}: unknown time zone {location}"
        spec = spec[space:].strip()
    if spec.startswith("@"):
        if spec in _DESCRIPTORS:
            return None
        if spec.startswith("@every "):
            problem = go_duration_error(spec[len("@every ") :])
            return f"failed to parse duration {spec}: {problem}" if problem else None
        return f"unrecognized descriptor: {spec}"
    fields = spec.split()
    if len(fields) != 5:
        return f"expected exactly 5 fields, found {len(fields)}: [{' '.join(fields)}]"
    for text, (low, high, names) in zip(fields, _BOUNDS, strict=True):
        for expression in (part for part in text.split(",") if part):
            problem = _range_error(expression, low, high, names)
            if problem:
                return problem
    return None


def _range_error(expression: str, low: int, high: int, names: dict[str, int]) -> str | None:
    range_and_step = expression.split("/")
    low_and_high = range_and_step[0].split("-")
    single = len(low_and_high) == 1
    if low_and_high[0] in ("*", "?"):
        start, end = low, high
    else:
        start_or_error = _int_or_name(low_and_high[0], names)
        if isinstance(start_or_error, str):
            return start_or_error
        start = end = start_or_error
        if len(low_and_high) == 2:
            end_or_error = _int_or_name(low_and_high[1], names)
            if isinstance(end_or_error, str):
                return end_or_error
            end = end_or_error
        elif len(low_and_high) > 2:
            return f"too many hyphens: {expression}"
    step = 1
    if len(range_and_step) == 2:
        step_or_error = _parse_int(range_and_step[1])
        if isinstance(step_or_error, str):
            return step_or_error
        step = step_or_error
        if single:
            end = high
    elif len(range_and_step) > 2:
        return f"too many slashes: {expression}"
    if start < low:
        return f"beginning of range ({start}) below minimum ({low}): {expression}"
    if end > high:
        return f"end of range ({end}) above maximum ({high}): {expression}"
    if start > end:
        return f"beginning of range ({start}) beyond end of range ({end}): {expression}"
    if step == 0:
        return f"step of range should be a positive number: {expression}"
    return None


def _int_or_name(text: str, names: dict[str, int]) -> int | str:
    if text.lower() in names:
        return names[text.lower()]
    return _parse_int(text)


def _parse_int(text: str) -> int | str:
    """strconv.Atoi, then cron's refusal of negatives; errors as strings."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax'
    number = int(text)
    if not -(2**63) <= number < 2**63:
        return f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": value out of range'
    if number < 0:
        return f"negative number ({number}) not allowed: {text}"
    return number


def go_duration_error(text: str) -> str | None:
    """time.ParseDuration's error, or None."""
    quoted = f'"{text}"'
    rest = text.lstrip("+-")
    if rest == "0":
        return None
    if not rest:
        return f"time: invalid duration {quoted}"
    while rest:
        number = re.match(r"[0-9]*(\.[0-9]*)?", rest)
        digits = number.group(0) if number else ""
        if digits in ("", "."):
            return f"time: invalid duration {quoted}"
        rest = rest[len(digits) :]
        unit_match = re.match(r"[^0-9.]*", rest)
        unit = unit_match.group(0) if unit_match else ""
        if not unit:
            return f"time: missing unit in duration {quoted}"
        if unit not in _DURATION_UNITS:
            return f'time: unknown unit "{unit}" in duration {quoted}'
        rest = rest[len(unit) :]
    return None
