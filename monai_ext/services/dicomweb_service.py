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

``python -m monai_ext serve-dicomweb --bundle DIR --url https://PACS/dicom-web [--poll-interval S] [--state FILE]
[--once]`` runs :class:`USDicomWebService`. Each poll:

1. **QIDO-RS** ``GET /studies?ModalitiesInStudy=US`` (plus any ``--filter``) lists the ultrasound studies with their
   instance counts (NumberOfStudyRelatedInstances; a PACS that does not return it costs one instance search per
   study and poll). A StudyInstanceUID that is not a valid UID fails that study (logged once per run, no request
   is sent for it).
2. A study is *due* when it is new, failed fewer than ``--max-attempts`` times, or was processed and its instance
   count grew since (instances arrived afterwards). A due study waits until its instance count has stayed the
   same for ``--settle-seconds`` (default 60), so a study still being sent to the PACS is not processed half.
3. A new study that already holds SR or SEG series whose Manufacturer is ours (``"monai_ext"``, the writers'
   default) is recorded as ``skipped`` with its ultrasound images as processed: the results are there, even if
   the state file was lost.
4. **WADO-RS** streams every ultrasound image instance of the study not processed before (US Image and US
   Multi-frame Image Storage and their retired classes, outside our own series and results) to disk in a temporary
   folder under ``--work-dir``, within ``--max-instance-bytes`` each and ``--max-study-bytes`` together.
5. The bundle segments them (``monai_ext.inference.run_bundle_inference``): a DICOM SR with per-frame contours
   for each clip, a DICOM SEG for each single frame, all in the source study and referencing the source instances.
6. **STOW-RS** ``POST /studies/{study}`` stores all results of the study in one request; the study is recorded as
   ``done`` only when the PACS's answer confirms every instance sent.

A study checked again after it grew gets results for its new images only, added to the earlier ones (which
stay as they are): instances sent in a later series are segmented on their own, nothing is replaced.

Robustness:

- *Idempotent*: a sqlite state file (:class:`~monai_ext.services.dicomweb_state.USStudyStateStore`) plus the
  "already holds our outputs" check, so an image is processed once, also across restarts.
- *A failing study does not stop the service*: the error is logged and recorded (credentials redacted); the study
  is retried at the following polls up to ``max_attempts`` times in all, then left as ``failed`` (delete its row to
  retry). A store the PACS does not fully confirm is such a failure.
- *Nothing is lost when the PACS is briefly unreachable*: every request is retried with exponential backoff; if
  the PACS stays away, or answers the study search with an error, the poll ends without charging an attempt to any
  study and the service waits longer before each new try (doubling up to 5 minutes). ``--once`` exits 1 instead.
- *Clean shutdown*: SIGINT/SIGTERM end a running request at once (a running segmentation finishes, its results
  are not stored) and the study is left for the next start; a second signal acts as usual.

Limits: QIDO paging is not used (Orthanc-DICOMweb 1.7 mis-pages ``ModalitiesInStudy`` queries), so every poll lists
all matching studies: narrow them with ``--filter``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import pydicom

from .dicomweb_client import USDicomWebClient, USInvalidUidError, check_dicom_uid, dicom_json_value
from .dicomweb_state import USStudyStateStore
from .dicomweb_transport import USAnswerTooLargeError, USDicomWebError, USPacsUnavailableError

__all__ = [
    "DEFAULT_MAX_STUDY_BYTES",
    "US_OUTPUT_MANUFACTURER",
    "USDicomWebService",
    "USPollSummary",
    "USStudyOutcome",
    "serve_dicomweb",
]

logger = logging.getLogger(__name__)

US_OUTPUT_MANUFACTURER = "monai_ext"
"""Manufacturer written by the project's SEG/SR writers; series with it mark a study as already processed."""
DEFAULT_MAX_STUDY_BYTES = 4 << 30
"""Default limit of the WADO-RS answers of one study together (4 GiB)."""

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
_MAX_BACKOFF = 300.0  # seconds between study searches while they fail
# the loggers whose records may carry a URL or an error text: redacted while the service runs
_REDACTED_LOGGERS = ("monai_ext.services", "urllib3", "requests")

InferFn = Callable[..., Sequence[os.PathLike]]
"""``infer(bundle_dir, inputs, output_dir, overrides=None) -> paths of the DICOM results written``."""


@dataclass
class USPollSummary:
    """What one poll (or, for ``serve(once=True)``, one run) did, by StudyInstanceUID.

    Attributes:
        found: studies the QIDO query returned (with a valid UID).
        processed: studies segmented and stored.
        rechecked: those of ``processed`` processed before, whose instance count grew.
        skipped: studies newly recorded as skipped.
        failed: studies whose processing raised (an invalid UID appears as its ``repr``).
        waiting: studies whose instance count has not been stable for the settle time yet.
        stored: SOP Instance UIDs stored.
        pacs_unavailable: the poll ended early because the PACS stayed unreachable.
        search_failed: the study search was answered with an error (4xx, not JSON, too large, ...).
        stopped: the poll ended early because a shutdown was requested.
    """

    found: int = 0
    processed: list[str] = field(default_factory=list)
    rechecked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    stored: list[str] = field(default_factory=list)
    pacs_unavailable: bool = False
    search_failed: bool = False
    stopped: bool = False

    @property
    def ok(self) -> bool:
        """True when no study failed and the PACS answered throughout."""
        return not self.failed and not self.pacs_unavailable and not self.search_failed

    def merge(self, other: USPollSummary) -> None:
        """Add another poll's outcome (``found`` becomes the larger count, ``waiting`` the later list)."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name == "found":
                self.found = max(mine, theirs)
            elif f.name == "waiting":
                self.waiting = list(theirs)
            elif isinstance(mine, list):
                mine.extend(u for u in theirs if u not in mine)
            else:
                setattr(self, f.name, mine or theirs)


@dataclass
class USStudyOutcome:
    """Result of :meth:`USDicomWebService.process_study`.

    Attributes:
        status: ``"done"`` (results stored) or ``"skipped"`` (nothing new to segment).
        stored: SOP Instance UIDs stored (all confirmed by the PACS).
        sources: SOP Instance UIDs of the source images processed (or, for a study already holding our results,
            found).
        note: what happened, for the log.
        sent: SOP Instance UIDs of the results sent (also filled when the store then fails).
    """

    status: str
    stored: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    note: str = ""
    sent: list[str] = field(default_factory=list)


def _default_infer(bundle_dir, inputs, output_dir, overrides=None):
    # imported on first use: monai and torch load only when there is something to segment
    from monai_ext.inference import run_bundle_inference

    return run_bundle_inference(bundle_dir, inputs, output_dir, overrides=overrides)


def _checked_work_dir(work_dir: str | os.PathLike | None) -> Path | None:
    if work_dir is None:
        return None
    path = Path(work_dir).expanduser()
    if not path.exists():
        raise ValueError(f"--work-dir {str(path)!r} does not exist: create it (mkdir -p {path}) or give an existing "
                         "folder.")
    if not path.is_dir():
        raise ValueError(f"--work-dir {str(path)!r} is not a folder: give a folder for the temporary study files.")
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"--work-dir {str(path)!r} is not writable ({e.strerror}): give a folder the service may "
                         "write to.") from None
    return path


def _instance_count(item: Mapping[str, Any]) -> int | None:
    value = dicom_json_value(item, "NumberOfStudyRelatedInstances")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,12}\s*", value):
        return int(value)
    return None


class USDicomWebService:
    """Poll a DICOMweb PACS for ultrasound studies, segment them with a bundle and store the results back.

    See the module docstring for the workflow and its guarantees.

    Args:
        client: a :class:`USDicomWebClient`, or the DICOMweb root URL to build one.
        bundle_dir: the bundle folder (``configs/inference.json``, ``models/model.pt``).
        state_file: sqlite state file (created when missing).
        infer: the segmentation callable ``infer(bundle_dir, inputs, output_dir, overrides=None) -> paths``;
            default ``monai_ext.inference.run_bundle_inference``. Injected by tests.
        overrides: bundle config overrides passed to ``infer``. They are code: MONAI evaluates ``$`` expressions
            and imports any ``_target_``, so only the operator may set them.
        max_attempts: attempts per study before it is left as failed.
        study_filters: extra QIDO-RS filters of the study search (``ModalitiesInStudy`` is always ``US``).
        output_manufacturer: Manufacturer of our SEG/SR outputs (marks a study as processed).
        work_dir: existing, writable parent folder of the per-study temporary folders (system default when None).
        settle_seconds: how long a study's instance count must stay the same before the study is processed.
        max_study_bytes: the most bytes retrieved for one study.
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
        settle_seconds: float = 60.0,
        max_study_bytes: int = DEFAULT_MAX_STUDY_BYTES,
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
        if not 0 <= float(settle_seconds) < float("inf"):
            raise ValueError(f"settle_seconds must be a number of seconds >= 0, got {settle_seconds!r}.")
        if isinstance(max_study_bytes, bool) or not isinstance(max_study_bytes, int) or max_study_bytes <= 0:
            raise ValueError(f"max_study_bytes must be a positive number of bytes, got {max_study_bytes!r}.")
        self.work_dir = _checked_work_dir(work_dir)
        self.state = USStudyStateStore(state_file)
        self.infer = infer or _default_infer
        self.overrides = dict(overrides or {})
        self.max_attempts = int(max_attempts)
        self.study_filters = {**dict(study_filters or {}), "ModalitiesInStudy": "US"}
        self.output_manufacturer = output_manufacturer
        self.settle_seconds = float(settle_seconds)
        self.max_study_bytes = max_study_bytes
        # the client's event: a shutdown also cuts its requests and backoff waits short
        self.stop_event: threading.Event = self.client.stop_event
        self._observed: dict[str, tuple[int, float]] = {}  # study -> (instance count, since when, monotonic)
        self._reported_invalid: set[str] = set()
        self._tried: set[str] | None = None  # studies attempted in this run (once mode: one attempt per run)

    def stop(self) -> None:
        """Ask the service to stop: a running request ends at once, no new study is started."""
        self.stop_event.set()

    # -- one study -------------------------------------------------------------------------------------------
    def _is_ours(self, series: Mapping[str, Any]) -> bool:
        return dicom_json_value(series, "Manufacturer") == self.output_manufacturer

    def _us_images(self, study_uid: str, series: Sequence[Mapping], include_ours: bool) -> list[tuple[str, str]]:
        """``(series UID, SOP Instance UID)`` of the study's ultrasound images, every UID checked first."""
        wanted = [
            s for s in series
            if dicom_json_value(s, "Modality") == "US" and (include_ours or not self._is_ours(s))
        ]
        series_uids = [check_dicom_uid(dicom_json_value(s, "SeriesInstanceUID"), "SeriesInstanceUID") for s in wanted]
        images: dict[str, str] = {}
        for series_uid in dict.fromkeys(series_uids):
            for inst in self.client.search_instances(study_uid, series_uid):
                sop_class = dicom_json_value(inst, "SOPClassUID")
                if isinstance(sop_class, str) and sop_class in _US_IMAGE_SOP_CLASSES:
                    images.setdefault(check_dicom_uid(dicom_json_value(inst, "SOPInstanceUID"), "SOPInstanceUID"),
                                      series_uid)
        return [(se, sop) for sop, se in images.items()]

    def process_study(
        self,
        study_uid: str,
        *,
        known: Sequence[str] = (),
        trust_existing: bool = True,
        outcome: USStudyOutcome | None = None,
    ) -> USStudyOutcome:
        """Segment a study's ultrasound images not in ``known`` and store the results (no state bookkeeping:
        :meth:`poll_once` does that).

        Args:
            study_uid: the study (checked to be a valid UID).
            known: SOP Instance UIDs processed or written before (not segmented again).
            trust_existing: a study already holding our SR/SEG series is skipped (used for studies not in the state).
            outcome: filled in as the work goes (``sent`` is set before the store, so it is known when it fails).

        Raises:
            USPacsUnavailableError: the PACS stayed unreachable, or a shutdown was requested.
            Exception: any other failure (invalid UIDs, limits, retrieval, inference, refused results).
        """
        check_dicom_uid(study_uid, "StudyInstanceUID")
        outcome = outcome or USStudyOutcome("skipped")
        series = self.client.search_series(study_uid, includefields=("Manufacturer",))
        if trust_existing:
            ours = [s for s in series if dicom_json_value(s, "Modality") in _OUTPUT_MODALITIES and self._is_ours(s)]
            if ours:
                outcome.status = "skipped"
                outcome.sources = [sop for _, sop in self._us_images(study_uid, series, include_ours=True)]
                outcome.note = f"already holds {len(ours)} {self.output_manufacturer} SR/SEG series"
                return outcome
        known_set = set(known)
        images = self._us_images(study_uid, series, include_ours=False)
        wanted = [(se, sop) for se, sop in images if sop not in known_set]
        if not wanted:
            outcome.status = "skipped"
            outcome.note = "no new ultrasound image instance" if known else "no ultrasound image instance"
            return outcome
        tmp = Path(tempfile.mkdtemp(prefix="monai_ext_dicomweb_", dir=self.work_dir))
        try:
            inputs, used = [], 0
            for i, (series_uid, sop) in enumerate(wanted):
                budget = self.max_study_bytes - used
                try:
                    path = self.client.retrieve_instance(
                        study_uid, series_uid, sop, tmp / "in" / f"{i:04d}.dcm",
                        max_bytes=max(1, min(self.client.max_instance_bytes, budget)),
                    )
                except USAnswerTooLargeError:
                    if budget >= self.client.max_instance_bytes:
                        raise
                    raise USAnswerTooLargeError(
                        f"study {study_uid}: its ultrasound instances exceed --max-study-bytes {self.max_study_bytes} "
                        f"({used} bytes retrieved before instance {sop}); raise --max-study-bytes if the study is "
                        "genuine."
                    ) from None
                used += path.stat().st_size
                inputs.append(path)
            logger.info("study %s: segmenting %d instance(s)", study_uid, len(inputs))
            outputs = [Path(p) for p in self.infer(self.bundle_dir, inputs, tmp / "out", overrides=self.overrides)]
            outcome.sent = self._check_outputs(study_uid, outputs)
            outcome.stored = self.client.store_instances(outputs, study_uid=study_uid, work_dir=tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        outcome.status = "done"
        outcome.sources = [sop for _, sop in wanted]
        outcome.note = f"stored {len(outcome.stored)} instance(s) for {len(wanted)} image(s)"
        return outcome

    def _check_outputs(self, study_uid: str, outputs: Sequence[Path]) -> list[str]:
        if not outputs:
            raise RuntimeError("the bundle wrote no result for the study.")
        uids = []
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
            uids.append(str(ds.get("SOPInstanceUID")))
        return uids

    # -- one poll --------------------------------------------------------------------------------------------
    def _settled(self, study_uid: str, count: int) -> bool:
        now = time.monotonic()
        seen = self._observed.get(study_uid)
        if seen is None or seen[0] != count:
            self._observed[study_uid] = (count, now)
            return self.settle_seconds <= 0
        return now - seen[1] >= self.settle_seconds

    def seconds_to_settle(self, study_uids: Sequence[str]) -> float:
        """Seconds until the first of ``study_uids`` (waiting studies) has been stable for the settle time."""
        now = time.monotonic()
        times = [self._observed[u][1] + self.settle_seconds - now for u in study_uids if u in self._observed]
        return max(0.0, min(times, default=0.0))

    def _study_list(self, summary: USPollSummary) -> list[tuple[str, int | None]] | None:
        try:
            studies = self.client.search_studies(self.study_filters, includefields=("NumberOfStudyRelatedInstances",))
        except USPacsUnavailableError as e:
            if self.stop_event.is_set():
                summary.stopped = True
            else:
                logger.error("study search failed, will retry at the next poll: %s", e)
                summary.pacs_unavailable = True
            return None
        except USDicomWebError as e:  # a 4xx, a non-JSON or oversize answer: the service backs off and goes on
            logger.error("study search failed, will retry after a pause: %s", e)
            summary.search_failed = True
            return None
        found: dict[str, int | None] = {}
        for item in studies:
            try:
                uid = check_dicom_uid(dicom_json_value(item, "StudyInstanceUID"), "StudyInstanceUID")
            except USInvalidUidError as e:
                summary.failed.append(e.shown)
                if e.shown not in self._reported_invalid:  # once per run: the search lists it at every poll
                    self._reported_invalid.add(e.shown)
                    logger.error("study search: %s", e)
                continue
            found.setdefault(uid, _instance_count(item))
        summary.found = len(found)
        return list(found.items())

    def poll_once(self) -> USPollSummary:
        """Search the PACS once and process every study that is due and settled; never raises for one study's
        failure."""
        summary = USPollSummary()
        studies = self._study_list(summary)
        for uid, count in studies or ():
            if self.stop_event.is_set():
                summary.stopped = True
                break
            if self._tried is not None and uid in self._tried:
                continue
            row = self.state.get(uid)
            if row is not None and row["status"] == "failed" and row["attempts"] >= self.max_attempts:
                continue
            processed_before = row is not None and row["status"] != "failed"
            if processed_before and count is not None and row["instances"] is not None and count <= row["instances"]:
                continue
            try:
                if count is None:
                    count = len(self.client.search_instances(uid))
            except USPacsUnavailableError as e:
                self._interrupted(summary, uid, e)
                break
            except USDicomWebError as e:
                logger.error("study %s: counting its instances failed: %s", uid, e)
                summary.failed.append(uid)
                continue
            if processed_before and row["instances"] is None:  # a row written before instance counts were kept
                self.state.record(uid, row["status"], error=row["error"], instances=count, attempt=False)
                continue
            if processed_before and count <= row["instances"]:
                continue
            if not self._settled(uid, count):
                summary.waiting.append(uid)
                continue
            if not self._process(uid, row, count, summary):
                break
        return summary

    def _interrupted(self, summary: USPollSummary, uid: str, error: Exception) -> None:
        # not the study's fault: no attempt charged, and the other studies would fail the same way
        if self.stop_event.is_set():
            logger.info("study %s: interrupted by the shutdown, left for the next start", uid)
            summary.stopped = True
        else:
            logger.error("study %s: PACS unavailable, will retry at the next poll: %s", uid, error)
            summary.pacs_unavailable = True

    def _process(self, uid: str, row: dict | None, count: int, summary: USPollSummary) -> bool:
        """Process one due study and record the outcome; False when the poll must end."""
        previous = row or {"status": None, "error": None, "sources": [], "sent": [], "outputs": []}
        processed_before = previous["status"] in ("done", "skipped")  # checked again because it grew
        outcome = USStudyOutcome("skipped")
        if self._tried is not None:
            self._tried.add(uid)
        try:
            known = [*previous["sources"], *previous["sent"], *previous["outputs"]]
            self.process_study(uid, known=known, trust_existing=row is None, outcome=outcome)
        except USPacsUnavailableError as e:
            if outcome.sent:  # the store may have gone through in part: those results are not new source images
                self.state.record(uid, previous["status"] or "failed", error=previous["error"],
                                  sent=[*previous["sent"], *outcome.sent], attempt=False)
            self._interrupted(summary, uid, e)
            return False
        except Exception as e:  # one bad study must not stop the service
            error = self.client.redact(f"{type(e).__name__}: {e}")[:2000]
            row = self.state.record(uid, "failed", error=error, sent=[*previous["sent"], *outcome.sent], attempt=True,
                                    new_cycle=processed_before)
            final = "; giving up" if row["attempts"] >= self.max_attempts else ""
            logger.exception("study %s: attempt %d/%d failed%s", uid, row["attempts"], self.max_attempts, final)
            summary.failed.append(uid)
            return True
        if outcome.status == "skipped" and processed_before:
            # it grew, but with nothing to segment (e.g. an SR of the scanner): remember the new count only
            self.state.record(uid, previous["status"], error=previous["error"], instances=count, attempt=False)
            logger.info("study %s: %d instance(s) now, %s", uid, count, outcome.note)
            return True
        # a failed re-check that finds nothing new any more is done: the earlier results stand
        status = "done" if outcome.status == "done" or previous["sources"] else "skipped"
        self.state.record(
            uid,
            status,
            outputs=[*previous["outputs"], *outcome.stored],
            sources=[*previous["sources"], *outcome.sources],
            sent=[*previous["sent"], *outcome.sent],
            instances=count + len(outcome.stored),
            attempt=outcome.status == "done",
            new_cycle=processed_before,
        )
        logger.info("study %s: %s (%s)", uid, outcome.status, outcome.note)
        if outcome.status == "done":
            summary.processed.append(uid)
            if processed_before or previous["sources"]:
                summary.rechecked.append(uid)
        else:
            summary.skipped.append(uid)
        summary.stored += outcome.stored
        return True

    # -- service loop ----------------------------------------------------------------------------------------
    def serve(self, poll_interval: float = 30.0, once: bool = False) -> USPollSummary:
        """Poll until stopped (SIGINT/SIGTERM or :meth:`stop`), or, with ``once=True``, until every study found is
        processed or has failed once (studies still receiving instances are waited for).

        Returns:
            the summary of the last poll, or of the whole run with ``once=True``.
        """
        if poll_interval < 0:
            raise ValueError(f"poll_interval must be >= 0, got {poll_interval!r}.")
        previous = self._install_signal_handlers()
        watched = [logging.getLogger(name) for name in _REDACTED_LOGGERS]
        for log in watched:
            log.addFilter(self.client.redactor)
        self._tried = set() if once else None
        total, failures = USPollSummary(), 0
        try:
            while True:
                summary = self.poll_once()
                total.merge(summary)
                logger.info(
                    "poll: %d US studies, %d processed, %d skipped, %d failed, %d waiting to settle, "
                    "%d instances stored%s%s",
                    summary.found, len(summary.processed), len(summary.skipped), len(summary.failed),
                    len(summary.waiting), len(summary.stored),
                    ", PACS unavailable" if summary.pacs_unavailable else "",
                    ", study search failed" if summary.search_failed else "",
                )
                if summary.stopped or self.stop_event.is_set():
                    break
                trouble = summary.pacs_unavailable or summary.search_failed
                if once:
                    if trouble or not summary.waiting:
                        break
                    wait = max(0.05, self.seconds_to_settle(summary.waiting))
                else:
                    failures = failures + 1 if trouble else 0
                    wait = poll_interval
                    if trouble:
                        wait = min(max(poll_interval, 1.0) * 2 ** (failures - 1), max(poll_interval, _MAX_BACKOFF))
                        logger.info("next study search in %.1f s", wait)
                    elif summary.waiting:
                        wait = min(wait, max(0.05, self.seconds_to_settle(summary.waiting)))
                if self.stop_event.wait(wait):
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for log in watched:
                log.removeFilter(self.client.redactor)
            self._tried = None
        if self.stop_event.is_set():
            logger.info("shutdown complete")
        return total if once else summary

    def _install_signal_handlers(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}  # signal handlers can only be set from the main thread; stop() still works
        previous = {}

        def handler(signum, frame):
            logger.info("%s received: stopping (a running request is cut short)", signal.Signals(signum).name)
            self.stop_event.set()
            for sig, old in previous.items():  # a second signal acts as it did before
                signal.signal(sig, old)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
        return previous


_CLIENT_KWARGS = ("retry", "timeout", "auth", "ca_bundle", "deadline", "max_instance_bytes", "max_json_bytes",
                  "headers")


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
        once: process what is there and return.
        kwargs: further :class:`USDicomWebService` arguments (``infer``, ``overrides``, ``max_attempts``,
            ``settle_seconds``, ...); ``retry``, ``timeout``, ``auth``, ``ca_bundle``, ``deadline``,
            ``max_instance_bytes``, ``max_json_bytes`` and ``headers`` go to the :class:`USDicomWebClient`.

    Returns:
        the summary of the last poll (of the whole run with ``once=True``).
    """
    client_kwargs = {k: kwargs.pop(k) for k in _CLIENT_KWARGS if k in kwargs}
    client = USDicomWebClient(url, **client_kwargs)
    try:
        return USDicomWebService(client, bundle_dir, state_file, **kwargs).serve(poll_interval, once=once)
    finally:
        client.close()
