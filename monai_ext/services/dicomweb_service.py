# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#     http://www.apache.org/licenses/LICENSE-2.0
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Hospital pipeline: poll a DICOMweb PACS for ultrasound studies, segment them with a bundle, store the results back.

``python -m monai_ext serve-dicomweb --bundle DIR --url http://PACS/dicom-web [--poll-interval S] [--state FILE]
[--once]`` runs :class:`USDicomWebService`. Each poll:

1. **QIDO-RS** ``GET /studies?ModalitiesInStudy=US`` (plus any ``--filter``) lists the ultrasound studies.
2. Studies already in the state file as ``done`` or ``skipped``, or ``failed`` ``--max-attempts`` times, are passed
   over. A study that already holds SR or SEG series whose Manufacturer is ours (``"monai_ext"``, the writers'
   default) is recorded as ``skipped``: the results are there, even if the state file was lost.
3. **WADO-RS** retrieves every ultrasound image instance of the study (US Image and US Multi-frame Image Storage,
   and their retired classes), exactly as stored (JPEG clips are not transcoded), into a temporary folder.
4. The bundle segments them (``monai_ext.inference.run_bundle_inference``): a DICOM SR with per-frame contours
   for each clip, a DICOM SEG for each single frame, all in the source study and referencing the source instances.
5. **STOW-RS** ``POST /studies/{study}`` stores all results of the study in one request; the study is then
   recorded as ``done`` with the stored SOP Instance UIDs.

Robustness:

- *Idempotent*: a small sqlite state file keyed by StudyInstanceUID (status, attempts, last error, stored UIDs)
  plus the "already holds our outputs" check, so a study is processed once, also across restarts.
- *A failing study does not stop the service*: the error is logged and recorded; the study is retried at the
  following polls up to ``max_attempts`` times in all, then left as ``failed`` (delete its row to retry).
- *Nothing is lost when the PACS is briefly unreachable*: every QIDO, WADO and STOW request is retried with
  exponential backoff (:class:`~monai_ext.services.dicomweb_client.USRetryPolicy`); if the PACS stays away the
  poll ends without charging an attempt to any study, and the next poll starts again.
- *Clean shutdown*: SIGINT/SIGTERM let the current study finish (backoff waits are cut short), then the service
  exits; a second signal acts as usual (e.g. KeyboardInterrupt).

Limits: a study is processed once; instances added to it after processing are not picked up. Studies are not
checked for completeness, so route them to the PACS before the service sees them (or poll with a ``StudyDate``
filter / a poll interval longer than a transfer). QIDO paging is not used (Orthanc-DICOMweb 1.7 mis-pages
``ModalitiesInStudy`` queries), so every poll lists all matching studies: narrow them with ``--filter``.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
import signal
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydicom

from .dicomweb_client import USDicomWebClient, USPacsUnavailableError, dicom_json_value

__all__ = [
    "US_OUTPUT_MANUFACTURER",
    "USDicomWebService",
    "USPollSummary",
    "USStudyStateStore",
    "serve_dicomweb",
]

logger = logging.getLogger(__name__)

US_OUTPUT_MANUFACTURER = "monai_ext"
"""Manufacturer written by the project's SEG/SR writers; series with it mark a study as already processed."""

# US Image / US Multi-frame Image Storage and their retired classes (what UltrasoundDicomReader accepts).
_US_IMAGE_SOP_CLASSES = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.3.1",
        "1.2.840.10008.5.1.4.1.1.6.1",
        "1.2.840.10008.5.1.4.1.1.3",
        "1.2.840.10008.5.1.4.1.1.6",
    }
)
_OUTPUT_MODALITIES = frozenset({"SR", "SEG"})

InferFn = Callable[..., Sequence[os.PathLike]]
"""``infer(bundle_dir, inputs, output_dir, overrides=None) -> paths of the DICOM results written``."""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class USStudyStateStore:
    """Persistent per-study state of the service (sqlite, one row per StudyInstanceUID).

    Statuses: ``"done"`` (results stored), ``"skipped"`` (nothing to do: results already present or no ultrasound
    image), ``"failed"`` (last attempt raised; ``attempts`` counts the attempts so far).

    Args:
        path: sqlite file; created with its parent folder when missing.
    """

    STATUSES = ("done", "skipped", "failed")

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise ValueError(f"state file {self.path} is a directory; give a file name such as state.sqlite.")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as con:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS studies (study_uid TEXT PRIMARY KEY, status TEXT NOT NULL, "
                    "attempts INTEGER NOT NULL DEFAULT 0, error TEXT, outputs TEXT, updated TEXT NOT NULL)"
                )
        except sqlite3.DatabaseError as e:
            raise ValueError(f"state file {self.path} is not a usable sqlite database: {e}") from e

    @contextlib.contextmanager
    def _connect(self):
        # one short connection per call: the file stays consistent if the process is killed between studies
        con = sqlite3.connect(self.path, timeout=30)
        try:
            with con:  # commits, or rolls back on error
                yield con
        finally:
            con.close()

    def get(self, study_uid: str) -> dict | None:
        """The row of a study as a dict (``outputs`` decoded to a list), or None when unknown."""
        with self._connect() as con:
            row = con.execute(
                "SELECT study_uid, status, attempts, error, outputs, updated FROM studies WHERE study_uid = ?",
                (study_uid,),
            ).fetchone()
        if row is None:
            return None
        keys = ("study_uid", "status", "attempts", "error", "outputs", "updated")
        state = dict(zip(keys, row))
        state["outputs"] = json.loads(state["outputs"]) if state["outputs"] else []
        return state

    def record(
        self, study_uid: str, status: str, *, error: str | None = None, outputs: Sequence[str] = (), attempt: bool
    ) -> dict:
        """Write the outcome of a study.

        Args:
            study_uid: StudyInstanceUID.
            status: one of :attr:`STATUSES`.
            error: the error text of a failure.
            outputs: SOP Instance UIDs stored for the study.
            attempt: whether this outcome counts as a processing attempt.
        """
        if status not in self.STATUSES:
            raise ValueError(f"status must be one of {self.STATUSES}, got {status!r}.")
        previous = self.get(study_uid)
        attempts = (previous["attempts"] if previous else 0) + int(attempt)
        with self._connect() as con:
            con.execute(
                "INSERT OR REPLACE INTO studies (study_uid, status, attempts, error, outputs, updated) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (study_uid, status, attempts, error, json.dumps(list(outputs)), _now()),
            )
        return self.get(study_uid)  # type: ignore[return-value]

    def all(self) -> list[dict]:
        """Every row, oldest update first."""
        with self._connect() as con:
            uids = [r[0] for r in con.execute("SELECT study_uid FROM studies ORDER BY updated, study_uid")]
        return [self.get(u) for u in uids]  # type: ignore[misc]


@dataclass
class USPollSummary:
    """What one poll did (StudyInstanceUIDs per outcome).

    Attributes:
        found: studies the QIDO query returned.
        processed: studies segmented and stored in this poll.
        skipped: studies newly recorded as skipped.
        failed: studies whose processing raised in this poll.
        stored: SOP Instance UIDs stored in this poll.
        pacs_unavailable: the poll ended early because the PACS stayed unreachable.
        stopped: the poll ended early because a shutdown was requested.
    """

    found: int = 0
    processed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    pacs_unavailable: bool = False
    stopped: bool = False

    @property
    def ok(self) -> bool:
        """True when no study failed and the PACS answered throughout."""
        return not self.failed and not self.pacs_unavailable


def _default_infer(bundle_dir, inputs, output_dir, overrides=None):
    # imported on first use: monai and torch load only when there is something to segment
    from monai_ext.inference import run_bundle_inference

    return run_bundle_inference(bundle_dir, inputs, output_dir, overrides=overrides)


class USDicomWebService:
    """Poll a DICOMweb PACS for ultrasound studies, segment them with a bundle and store the results back.

    See the module docstring for the workflow and its guarantees.

    Args:
        client: a :class:`USDicomWebClient`, or the DICOMweb root URL to build one.
        bundle_dir: the bundle folder (``configs/inference.json``, ``models/model.pt``).
        state_file: sqlite state file (created when missing).
        infer: the segmentation callable ``infer(bundle_dir, inputs, output_dir, overrides=None) -> paths``;
            default ``monai_ext.inference.run_bundle_inference``. Injected by tests.
        overrides: bundle config overrides passed to ``infer``.
        max_attempts: attempts per study before it is left as failed.
        study_filters: extra QIDO-RS filters of the study search (``ModalitiesInStudy`` is always ``US``).
        output_manufacturer: Manufacturer of our SEG/SR outputs (marks a study as processed).
        work_dir: parent folder of the per-study temporary folders (system default when None).
    """

    def __init__(
        self,
        client: USDicomWebClient | str,
        bundle_dir: str | os.PathLike,
        state_file: str | os.PathLike,
        *,
        infer: InferFn | None = None,
        overrides: Mapping[str, Any] | None = None,
        max_attempts: int = 3,
        study_filters: Mapping[str, Any] | None = None,
        output_manufacturer: str = US_OUTPUT_MANUFACTURER,
        work_dir: str | os.PathLike | None = None,
    ) -> None:
        self.client = USDicomWebClient(client) if isinstance(client, str) else client
        if not isinstance(self.client, USDicomWebClient):
            raise TypeError(f"client must be a USDicomWebClient or a URL, got {type(client).__name__}.")
        self.bundle_dir = Path(bundle_dir).expanduser()
        if not (self.bundle_dir / "configs").is_dir():
            raise FileNotFoundError(f"bundle folder {self.bundle_dir} has no configs/ folder.")
        if int(max_attempts) != max_attempts or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive integer, got {max_attempts!r}.")
        if infer is not None and not callable(infer):
            raise TypeError(f"infer must be callable, got {type(infer).__name__}.")
        self.state = USStudyStateStore(state_file)
        self.infer = infer or _default_infer
        self.overrides = dict(overrides or {})
        self.max_attempts = int(max_attempts)
        self.study_filters = {**dict(study_filters or {}), "ModalitiesInStudy": "US"}
        self.output_manufacturer = output_manufacturer
        self.work_dir = Path(work_dir) if work_dir is not None else None
        # the client's event: a shutdown also cuts its backoff waits short
        self.stop_event: threading.Event = self.client.stop_event

    def stop(self) -> None:
        """Ask the service to stop after the current study."""
        self.stop_event.set()

    # -- one study -------------------------------------------------------------------------------------------
    def _is_ours(self, series: Mapping[str, Any]) -> bool:
        return dicom_json_value(series, "Manufacturer") == self.output_manufacturer

    def process_study(self, study_uid: str) -> tuple[str, list[str], str]:
        """Segment one study and store the results (no state bookkeeping; :meth:`poll_once` does that).

        Returns:
            ``(status, stored SOP Instance UIDs, note)`` with status ``"done"`` or ``"skipped"``.

        Raises:
            USPacsUnavailableError: the PACS stayed unreachable.
            Exception: any other failure (retrieval, inference, refused results).
        """
        series = self.client.search_series(study_uid, includefields=("Manufacturer",))
        ours = [s for s in series if dicom_json_value(s, "Modality") in _OUTPUT_MODALITIES and self._is_ours(s)]
        if ours:
            return "skipped", [], f"already holds {len(ours)} {self.output_manufacturer} SR/SEG series"
        wanted = []
        for s in series:
            # (our derived key frames are US too, but they only ever arrive with their SEGs, caught above)
            if dicom_json_value(s, "Modality") != "US":
                continue
            series_uid = dicom_json_value(s, "SeriesInstanceUID")
            for inst in self.client.search_instances(study_uid, series_uid):
                if dicom_json_value(inst, "SOPClassUID") in _US_IMAGE_SOP_CLASSES:
                    wanted.append((series_uid, dicom_json_value(inst, "SOPInstanceUID")))
        if not wanted:
            return "skipped", [], "no ultrasound image instance"
        tmp = Path(tempfile.mkdtemp(prefix="monai_ext_dicomweb_", dir=self.work_dir))
        try:
            inputs = [
                self.client.retrieve_instance(study_uid, se, sop, tmp / "in" / f"{i:04d}.dcm")
                for i, (se, sop) in enumerate(wanted)
            ]
            logger.info("study %s: segmenting %d instance(s)", study_uid, len(inputs))
            outputs = [Path(p) for p in self.infer(self.bundle_dir, inputs, tmp / "out", overrides=self.overrides)]
            self._check_outputs(study_uid, outputs)
            stored = self.client.store_instances(outputs, study_uid=study_uid)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return "done", stored, f"stored {len(stored)} instance(s)"

    def _check_outputs(self, study_uid: str, outputs: Sequence[Path]) -> None:
        if not outputs:
            raise RuntimeError("the bundle wrote no result for the study.")
        for path in outputs:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            if ds.get("StudyInstanceUID") != study_uid:
                raise RuntimeError(
                    f"result {path.name} belongs to study {ds.get('StudyInstanceUID')}, not {study_uid}."
                )
            if ds.get("Modality") in _OUTPUT_MODALITIES and ds.get("Manufacturer") != self.output_manufacturer:
                # storing still works, but a lost state file would let the study be processed again
                logger.warning(
                    "result %s has Manufacturer %r, not %r: it will not mark the study as processed",
                    path.name,
                    ds.get("Manufacturer"),
                    self.output_manufacturer,
                )

    # -- one poll --------------------------------------------------------------------------------------------
    def _due(self, study_uid: str) -> bool:
        row = self.state.get(study_uid)
        if row is None:
            return True
        return row["status"] == "failed" and row["attempts"] < self.max_attempts

    def poll_once(self) -> USPollSummary:
        """Search the PACS once and process every study that is due; never raises for one study's failure."""
        summary = USPollSummary()
        try:
            studies = self.client.search_studies(self.study_filters)
        except USPacsUnavailableError as e:
            if self.stop_event.is_set():
                summary.stopped = True
            else:
                logger.error("study search failed, will retry at the next poll: %s", e)
                summary.pacs_unavailable = True
            return summary
        uids = [u for u in (dicom_json_value(s, "StudyInstanceUID") for s in studies) if u]
        summary.found = len(uids)
        for uid in uids:
            if self.stop_event.is_set():
                summary.stopped = True
                break
            if not self._due(uid):
                continue
            try:
                status, stored, note = self.process_study(uid)
            except USPacsUnavailableError as e:
                # not the study's fault: no attempt charged, and the other studies would fail the same way
                if self.stop_event.is_set():
                    logger.info("study %s: interrupted by the shutdown, left for the next start", uid)
                    summary.stopped = True
                else:
                    logger.error("study %s: PACS unavailable, will retry at the next poll: %s", uid, e)
                    summary.pacs_unavailable = True
                break
            except Exception as e:  # one bad study must not stop the service
                row = self.state.record(uid, "failed", error=f"{type(e).__name__}: {e}"[:2000], attempt=True)
                final = "; giving up" if row["attempts"] >= self.max_attempts else ""
                logger.exception("study %s: attempt %d/%d failed%s", uid, row["attempts"], self.max_attempts, final)
                summary.failed.append(uid)
                continue
            self.state.record(uid, status, outputs=stored, attempt=status == "done")
            logger.info("study %s: %s (%s)", uid, status, note)
            (summary.processed if status == "done" else summary.skipped).append(uid)
            summary.stored += stored
        return summary

    # -- service loop ----------------------------------------------------------------------------------------
    def serve(self, poll_interval: float = 30.0, once: bool = False) -> USPollSummary:
        """Poll until stopped (SIGINT/SIGTERM or :meth:`stop`), or once with ``once=True``.

        Returns:
            the summary of the last poll.
        """
        if poll_interval < 0:
            raise ValueError(f"poll_interval must be >= 0, got {poll_interval!r}.")
        previous = self._install_signal_handlers()
        try:
            while True:
                summary = self.poll_once()
                logger.info(
                    "poll: %d US studies, %d processed, %d skipped, %d failed, %d instances stored%s",
                    summary.found,
                    len(summary.processed),
                    len(summary.skipped),
                    len(summary.failed),
                    len(summary.stored),
                    ", PACS unavailable" if summary.pacs_unavailable else "",
                )
                if once or self.stop_event.wait(poll_interval):
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.stop_event.is_set():
            logger.info("shutdown complete")
        return summary

    def _install_signal_handlers(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}  # signal handlers can only be set from the main thread; stop() still works
        previous = {}

        def handler(signum, frame):
            logger.info("%s received: stopping after the current study", signal.Signals(signum).name)
            self.stop_event.set()
            for sig, old in previous.items():  # a second signal acts as it did before
                signal.signal(sig, old)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        return previous


def serve_dicomweb(
    bundle_dir: str | os.PathLike,
    url: str,
    *,
    state_file: str | os.PathLike = "dicomweb_state.sqlite",
    poll_interval: float = 30.0,
    once: bool = False,
    **kwargs: Any,
) -> USPollSummary:
    """Run :class:`USDicomWebService` on ``url`` (what ``python -m monai_ext serve-dicomweb`` calls).

    Args:
        bundle_dir: the bundle folder.
        url: DICOMweb root of the PACS, e.g. ``http://127.0.0.1:8042/dicom-web``.
        state_file: sqlite state file.
        poll_interval: seconds between polls.
        once: poll once and return.
        kwargs: further :class:`USDicomWebService` arguments (``infer``, ``overrides``, ``max_attempts``, ...);
            ``retry`` and ``timeout`` go to the :class:`USDicomWebClient`.

    Returns:
        the summary of the last poll.
    """
    client_kwargs = {k: kwargs.pop(k) for k in ("retry", "timeout") if k in kwargs}
    client = USDicomWebClient(url, **client_kwargs)
    try:
        return USDicomWebService(client, bundle_dir, state_file, **kwargs).serve(poll_interval, once=once)
    finally:
        client.close()
