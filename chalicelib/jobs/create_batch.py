"""The bookkeeping of one create call: which entries share a job (one idempotency key given
twice), which unique locks the call takes, and how the enqueue script's answer maps back to the
entries, or to the error that refused them all."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

from .model import DuplicateJob, IdempotencyConflict, InvalidJob
from .store import Enqueued, NewJob


@dataclass(frozen=True)
class Submitted:
    """A job as create() left it: its id, and whether an earlier create with the same
    idempotency key had already made it (nothing was written this time)."""

    job_id: str
    replayed: bool = False


@dataclass
class CreateBatch:
    """The jobs to send for a call's entries, in order."""

    jobs: list[NewJob] = field(default_factory=list)
    #: per entry, the index in `jobs` of the job that answers for it
    answered_by: list[int] = field(default_factory=list)
    #: idempotency key -> index in `jobs` of the job sent for it
    sent_for_key: dict[str, int] = field(default_factory=dict)
    #: unique fingerprint -> index of the first entry asking for it
    unique_entries: dict[str, int] = field(default_factory=dict)

    def add(
        self, job: NewJob, key: str | None, fingerprint: str, unique_for_s: float | None
    ) -> None:
        """Add an entry's job. Raises IdempotencyConflict when its key was given in this call
        with other params, InvalidJob when the call holds its unique job twice."""
        entry = len(self.answered_by)
        if key is not None and key in self.sent_for_key:
            first = self.jobs[self.sent_for_key[key]]
            if first.fingerprint != fingerprint:
                raise IdempotencyConflict(conflict_text(key), first.job_id)
            self.answered_by.append(self.sent_for_key[key])
            return
        if unique_for_s is not None:
            if fingerprint in self.unique_entries:
                raise InvalidJob(
                    f"entries {self.unique_entries[fingerprint]} and {entry} are the same unique "
                    "job (unique_for: same type and params): give it once"
                )
            self.unique_entries[fingerprint] = entry
            job = replace(job, unique=fingerprint, unique_ms=max(1, int(unique_for_s * 1000)))
        if key is not None:
            self.sent_for_key[key] = len(self.jobs)
            job = replace(job, idempotency_key=hash_key(key), fingerprint=fingerprint)
        self.answered_by.append(len(self.jobs))
        self.jobs.append(job)

    def raise_refusal(self, stored: Enqueued) -> None:
        """Raise the error of an enqueue that wrote nothing: IdempotencyConflict or
        DuplicateJob (naming entries, not jobs)."""
        if stored.conflict is not None:
            index, holder = stored.conflict
            key = next(k for k, i in self.sent_for_key.items() if i == index)
            raise IdempotencyConflict(conflict_text(key), holder)
        if stored.duplicates:
            refused = [(self.answered_by.index(i), holder) for i, holder in stored.duplicates]
            entries = ", ".join(f"entry {e} (held by {h})" for e, h in refused)
            raise DuplicateJob(
                f"a unique job with the same type and params is not finished yet: {entries}; "
                "nothing was written",
                refused[0][1],
                refused,
            )

    def submitted(self, stored: Enqueued) -> list[Submitted]:
        """Per entry, the id that answers for it, and whether it was there already."""
        submitted: list[Submitted] = []
        answered: set[int] = set()
        for sent in self.answered_by:
            answer = stored.answers[sent]
            replayed = bool(answer) or sent in answered
            answered.add(sent)
            submitted.append(Submitted(answer or self.jobs[sent].job_id, replayed))
        return submitted


def hash_key(key: str) -> str:
    """The key as it appears in Redis: hashed, so any characters and length stay harmless."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def conflict_text(key: str) -> str:
    return (
        f"idempotency key {key[:100]!r} is already used by a job with other params: "
        "use a new key for new work"
    )
