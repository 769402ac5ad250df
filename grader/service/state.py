"""What a running server holds: the course, its gradebook, the uploads' lease and the graders.

``Service.start`` does everything that can fail for an operator's reason (an unknown course, an
unreachable database or broker, no isolation) before the server listens, so that each is one
line at the command line, never a traceback in a log; ``stop`` ends what it started.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader import environment
from grader.db import Gradebook
from grader.errors import GraderError
from grader.leases import Heartbeat, Lease
from grader.sandbox.isolation import require
from grader.service.dispatch import CeleryGraders, Dispatch, Graders, LocalGraders
from grader.settings import Settings
from grader.workspace import Workspace

if TYPE_CHECKING:
    from starlette.requests import Request

log = logging.getLogger(__name__)

BACKENDS = ("local", "celery")


@dataclass
class Service:
    workspace: Workspace
    gradebook: Gradebook
    #: a second connection that never waits for the database: what /healthz asks
    probe: Gradebook
    dispatch: Dispatch
    heartbeat: Heartbeat
    settings: Settings
    backend: str

    @classmethod
    def start(
        cls, settings: Settings, *, course: Path | str, workers: int | None = None, backend: str = "local", isolation: str = "strict"
    ) -> Service:
        """Open the course and its gradebook (upgraded, tidied), start the graders and the
        heartbeat of the uploads' lease; raise GraderError, one line, for an operator mistake."""
        if backend not in BACKENDS:
            raise GraderError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}.")
        workspace = Workspace(Path(course).resolve(), settings.db_url)
        for name in workspace.course.names():
            loaded, _ = workspace.find(name)  # load what loads now; a broken rubric is logged when asked for
            try:
                if loaded is not None:
                    environment.require(loaded.rubric)  # its uploads are graded as errors saying so
            except GraderError as exc:
                log.error("%s", exc)
        if backend == "local":
            require(isolation)  # Celery workers check their own
        lease = Lease.mine("grade serve", settings.lease_seconds)
        gradebook = workspace.gradebook()
        try:
            probe = Gradebook(workspace.db_url, upgrade=False, retry_seconds=0)
            graders: Graders
            if backend == "celery":
                graders = CeleryGraders(settings, isolation, lease.owner)
            else:
                graders = LocalGraders(settings, workspace.course.root, workspace.db_url, workers or os.cpu_count() or 1, isolation, lease.owner)
        except BaseException:
            gradebook.close()
            raise
        heartbeat = Heartbeat(gradebook, lease).__enter__()
        service = cls(workspace, gradebook, probe, Dispatch(gradebook, lease, graders), heartbeat, settings, backend)
        service.dispatch.sweep()  # what a killed server left
        return service

    def stop(self) -> None:
        """Stop the graders, the heartbeat and the connections. Uploads still pending stay
        leased to this server until the lease runs out; the next server takes them over. A
        grading this stop cut short does not count as one of the upload's attempts (only
        crashes do: an upload that keeps killing its graders is closed after a few)."""
        cut = self.dispatch.graders.close()
        if cut:
            try:
                self.gradebook.give_back(cut, self.dispatch.lease)
            except GraderError as exc:  # the gradebook is away: they count, and are taken over all the same
                log.warning("could not give back %d interrupted gradings: %s", len(cut), exc)
        self.heartbeat.__exit__(None, None, None)
        self.probe.close()
        self.gradebook.close()

    @property
    def sweep_seconds(self) -> float:
        """How often the server takes over what stopped graders left: a few times per lease."""
        return self.settings.lease_seconds / Heartbeat.BEATS_PER_LEASE


def service_of(request: Request) -> Service:
    """The service of the app serving ``request``."""
    service: Service = request.app.state.service
    return service
