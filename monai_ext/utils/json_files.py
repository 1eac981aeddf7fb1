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

"""Read a JSON file that must hold one object, with the caller's error type and a message naming the file.

Split files, synthetic-image manifests and ``dataset.json`` descriptions are all JSON objects written by people or by
earlier stages; a file that cannot be read, is not JSON or holds something else than an object is an input error of
the caller's kind (``USSplitError``, ``USDatasetError``, ...), not a bare ``JSONDecodeError``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["read_json_object"]


def read_json_object(path: str | Path, error: type[Exception] = ValueError, what: str = "") -> dict[str, Any]:
    """The JSON object stored in ``path``.

    Args:
        path: the file (UTF-8).
        error: the exception type raised for an unreadable file, invalid JSON or a value that is not an object.
        what: what the file is, for the messages (e.g. ``"split file"``); empty: the path alone.

    Returns:
        the parsed object.

    Raises:
        error: ``cannot read <what> <path>: <reason>`` (missing or unreadable file, not UTF-8, not JSON), or
            ``<what> <path>: expected a JSON object, got <type>``.
    """
    p = Path(path)
    name = f"{what} {p}" if what else str(p)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise error(f"cannot read {name}: {e}") from e
    if not isinstance(data, dict):
        raise error(f"{name}: expected a JSON object, got {type(data).__name__}")
    return data
