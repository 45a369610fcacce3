"""Bulk enrolment jobs: run in a thread, polled for progress, resumable (done work is skipped)."""

from __future__ import annotations

import itertools
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from facetrail.core.context import Context
from facetrail.errors import FacetrailError, NotFoundError
from facetrail.services.enrolment import EnrolRequest
from facetrail.services.results import EnrolItem, EnrolReport

JobStatus = Literal["running", "done", "failed"]


class JobInfo(BaseModel):
    job_id: int
    gallery: str
    status: JobStatus
    done: int
    total: int
    error: str | None = None
    report: EnrolReport | None = None


@dataclass
class _Job:
    job_id: int
    owner: str
    request: EnrolRequest
    folder: Path
    status: JobStatus = "running"
    done: int = 0
    total: int = 0
    error: str | None = None
    report: EnrolReport | None = None
    thread: threading.Thread | None = field(default=None, repr=False)

    def info(self) -> JobInfo:
        return JobInfo(
            job_id=self.job_id,
            gallery=self.request.gallery,
            status=self.status,
            done=self.done,
            total=self.total,
            error=self.error,
            report=self.report,
        )


Enrol = Callable[[Context, EnrolRequest, Callable[[EnrolItem, int, int], None]], EnrolReport]


class EnrolmentJobs:
    """The bulk enrolments of this process."""

    def __init__(self) -> None:
        self._jobs: dict[int, _Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, enrol: Enrol, context: Context, request: EnrolRequest, folder: Path) -> JobInfo:
        """Run `enrol` on `request` in a thread; the job's folder is removed once it succeeds."""
        with self._lock:
            job = _Job(next(self._ids), context.actor, request, folder)
            self._jobs[job.job_id] = job
        self._launch(job, enrol, context)
        return job.info()

    def _launch(self, job: _Job, enrol: Enrol, context: Context) -> None:
        def progress(_item: EnrolItem, done: int, total: int) -> None:
            job.done, job.total = done, total

        def work() -> None:
            try:
                job.report = enrol(context, job.request, progress)
                job.status = "done"
                shutil.rmtree(job.folder, ignore_errors=True)
            except FacetrailError as error:
                job.status, job.error = "failed", str(error)
            except Exception as error:  # a job thread must record, not vanish
                job.status, job.error = "failed", f"unexpected error: {type(error).__name__}"

        job.thread = threading.Thread(target=work, name=f"enrol-job-{job.job_id}", daemon=True)
        job.thread.start()

    def get(self, job_id: int, actor: str) -> _Job:
        """A job of `actor` (another user's job is not found)."""
        job = self._jobs.get(job_id)
        if job is None or job.owner != actor:
            raise NotFoundError(f"enrolment job {job_id} does not exist on this server")
        return job

    def info(self, job_id: int, actor: str) -> JobInfo:
        return self.get(job_id, actor).info()

    def resume(self, job_id: int, enrol: Enrol, context: Context) -> JobInfo:
        """Run a failed job again (photos already enrolled are skipped)."""
        job = self.get(job_id, context.actor)
        if job.status == "running":
            return job.info()
        job.status, job.error, job.report = "running", None, None
        job.request = replace(job.request)
        self._launch(job, enrol, context)
        return job.info()

    def wait(self, job_id: int, actor: str, timeout: float) -> JobInfo:
        """Wait for a job to finish (tests, benchmarks)."""
        job = self.get(job_id, actor)
        if job.thread is not None:
            job.thread.join(timeout)
        return job.info()
