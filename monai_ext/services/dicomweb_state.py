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
"""Persistent per-study state of the DICOMweb service: one sqlite row per StudyInstanceUID.

A row holds the status, the attempts so far, the last error (redacted by the service), the SOP Instance UIDs of
the source images processed (``sources``), of every result sent to the PACS whether it confirmed them or not
(``sent``: results of a partly failed store must not be taken for new source images later) and of the results
the PACS confirmed (``outputs``), and the study's instance count once our results are in (``instances``): a
larger count later means instances arrived after processing, and the study is checked again.

The file is created with mode 600 (StudyInstanceUIDs identify patients' examinations); files written by older
versions gain the new columns on opening.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sqlite3
from collections.abc import Iterable
from pathlib import Path

__all__ = ["USStudyStateStore"]

_COLUMNS = ("study_uid", "status", "attempts", "error", "outputs", "updated", "sources", "sent", "instances")
_LIST_COLUMNS = ("outputs", "sources", "sent")
_ADDED_COLUMNS = {"sources": "TEXT", "sent": "TEXT", "instances": "INTEGER"}


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class USStudyStateStore:
    """Persistent per-study state of the service (see the module docstring).

    Statuses: ``"done"`` (results stored), ``"skipped"`` (nothing to do: results already present or no ultrasound
    image), ``"failed"`` (last attempt raised; ``attempts`` counts the attempts so far).

    Args:
        path: sqlite file; created (mode 600) with its parent folder when missing.
    """

    STATUSES = ("done", "skipped", "failed")

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser()
        if self.path.is_dir():
            raise ValueError(f"state file {self.path} is a directory; give a file name such as state.sqlite.")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as e:
            raise ValueError(
                f"state file {self.path} cannot be created ({e.strerror}): choose a writable --state path."
            ) from None
        try:
            with self._connect() as con:
                con.execute(
                    "CREATE TABLE IF NOT EXISTS studies (study_uid TEXT PRIMARY KEY, status TEXT NOT NULL, "
                    "attempts INTEGER NOT NULL DEFAULT 0, error TEXT, outputs TEXT, updated TEXT NOT NULL)"
                )
                have = {r[1] for r in con.execute("PRAGMA table_info(studies)")}
                for name, kind in _ADDED_COLUMNS.items():
                    if name not in have:
                        con.execute(f"ALTER TABLE studies ADD COLUMN {name} {kind}")
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
        """The row of a study as a dict (list columns decoded), or None when unknown."""
        with self._connect() as con:
            row = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM studies WHERE study_uid = ?", (study_uid,)).fetchone()
        if row is None:
            return None
        state = dict(zip(_COLUMNS, row))
        for key in _LIST_COLUMNS:
            state[key] = json.loads(state[key]) if state[key] else []
        return state

    def record(
        self,
        study_uid: str,
        status: str,
        *,
        error: str | None = None,
        outputs: Iterable[str] | None = None,
        sources: Iterable[str] | None = None,
        sent: Iterable[str] | None = None,
        instances: int | None = None,
        attempt: bool,
        new_cycle: bool = False,
    ) -> dict:
        """Write the outcome of a study; list columns and ``instances`` left as None keep their previous value.

        Args:
            study_uid: StudyInstanceUID.
            status: one of :attr:`STATUSES`.
            error: the error text of a failure (None clears it).
            outputs: SOP Instance UIDs stored for the study and confirmed by the PACS.
            sources: SOP Instance UIDs of the source images processed.
            sent: SOP Instance UIDs of every result sent.
            instances: the study's instance count with our results in.
            attempt: whether this outcome counts as a processing attempt.
            new_cycle: start counting attempts from 0 (a processed study checked again after it grew).
        """
        if status not in self.STATUSES:
            raise ValueError(f"status must be one of {self.STATUSES}, got {status!r}.")
        previous = self.get(study_uid) or {}
        attempts = (0 if new_cycle else previous.get("attempts", 0)) + int(attempt)
        given = {"outputs": outputs, "sources": sources, "sent": sent}
        lists = {k: list(v) if v is not None else previous.get(k, []) for k, v in given.items()}
        count = instances if instances is not None else previous.get("instances")
        with self._connect() as con:
            con.execute(
                f"INSERT OR REPLACE INTO studies ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    study_uid, status, attempts, error, json.dumps(lists["outputs"]), _now(),
                    json.dumps(lists["sources"]), json.dumps(lists["sent"]), count,
                ),
            )
        return self.get(study_uid)  # type: ignore[return-value]

    def all(self) -> list[dict]:
        """Every row, oldest update first."""
        with self._connect() as con:
            uids = [r[0] for r in con.execute("SELECT study_uid FROM studies ORDER BY updated, study_uid")]
        return [self.get(u) for u in uids]  # type: ignore[misc]
