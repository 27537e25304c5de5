"""Rule findings: what a check concluded, how bad it is, and the evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Evidence", "Finding", "Severity", "Status"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Status(StrEnum):
    PASS = "pass"  # the rule holds
    FAIL = "fail"  # the rule is broken (severity says how badly)
    SKIPPED = "skipped"  # the rule cannot be checked from these files (the message says why)


@dataclass(frozen=True)
class Evidence:
    file: str | None = None
    line: int | None = None
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    rule: str
    title: str
    status: Status
    severity: Severity
    message: str
    evidence: tuple[Evidence, ...] = ()

    @classmethod
    def passed(cls, rule: str, title: str, message: str, *evidence: Evidence) -> Finding:
        return cls(rule, title, Status.PASS, Severity.INFO, message, evidence)

    @classmethod
    def failed(cls, rule: str, title: str, severity: Severity, message: str, *evidence: Evidence) -> Finding:
        return cls(rule, title, Status.FAIL, severity, message, evidence)

    @classmethod
    def skipped(cls, rule: str, title: str, message: str, *evidence: Evidence) -> Finding:
        return cls(rule, title, Status.SKIPPED, Severity.INFO, message, evidence)

    @property
    def is_error(self) -> bool:
        return self.status is Status.FAIL and self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        d["severity"] = self.severity.value
        d["evidence"] = [{k: v for k, v in asdict(e).items() if v not in (None, {})} for e in self.evidence]
        return d
