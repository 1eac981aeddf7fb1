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
"""Tests of monai_ext.services.dicomweb_state: file mode, merging of rows, attempt cycles, and files of the older
schema."""

from __future__ import annotations

import os
import sqlite3

from monai_ext.services import USStudyStateStore


def test_state_file_mode_and_row_merging(tmp_path):
    store = USStudyStateStore(tmp_path / "sub" / "state.sqlite")
    assert os.stat(tmp_path / "sub" / "state.sqlite").st_mode & 0o777 == 0o600
    row = store.record("1.2.3", "done", outputs=["1.9"], sources=["1.5"], sent=["1.9"], instances=3, attempt=True)
    assert (row["attempts"], row["outputs"], row["sources"], row["sent"], row["instances"]) == (1, ["1.9"], ["1.5"],
                                                                                               ["1.9"], 3)
    # a failed re-check after growth: attempts start a new cycle; lists and count are kept unless given
    row = store.record("1.2.3", "failed", error="boom", sent=["1.9", "1.10"], attempt=True, new_cycle=True)
    assert row["attempts"] == 1 and row["outputs"] == ["1.9"] and row["instances"] == 3 and row["error"] == "boom"
    row = store.record("1.2.3", "failed", error="again", attempt=True)
    assert row["attempts"] == 2 and row["sent"] == ["1.9", "1.10"]


def test_old_state_files_gain_the_new_columns(tmp_path):
    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE studies (study_uid TEXT PRIMARY KEY, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
        "error TEXT, outputs TEXT, updated TEXT NOT NULL)"
    )
    con.execute("INSERT INTO studies VALUES ('1.2.3', 'done', 1, NULL, '[\"1.9\"]', '2026-01-01T00:00:00+00:00')")
    con.commit()
    con.close()
    row = USStudyStateStore(path).get("1.2.3")
    assert row["status"] == "done" and row["outputs"] == ["1.9"] and row["sources"] == [] and row["instances"] is None
