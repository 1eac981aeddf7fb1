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
"""Errors about bad input that a user can read: one base class, and an excepthook that shows them last.

Our input checks raise :class:`USInputError` subclasses (``USDatasetError``, ``USSplitError``, ``USDicomError``,
``USCheckpointError``, ...) whose message names the file and the problem. Run through ``python -m monai.bundle
run``, such an error is raised while MONAI evaluates a config expression and ends up far up a chained traceback
whose last line is MONAI's ``RuntimeError: Failed to evaluate ConfigExpression``. The bundle CLI is MONAI's, so the
package cannot wrap it, and the errors come from evaluating the config (listing the dataset, loading the
checkpoint), so they cannot be raised before it either. Instead, importing ``monai_ext`` (which every config does
through its ``imports``) installs :func:`install_input_error_hook`: a ``sys.excepthook`` that lets the previous
hook print the whole traceback as before and then, when one of our errors is anywhere in the exception chain
(``__cause__`` / ``__context__``) and is not already the last line, repeats it as the final lines. Nothing else
changes (exit status, other exceptions, interactive shells); ``MONAI_EXT_EXCEPTHOOK=0`` turns it off.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType

__all__ = ["USInputError", "find_input_error", "input_error_lines", "install_input_error_hook"]

_HOOK_MARK = "monai_ext_input_error_hook"


class USInputError(ValueError):
    """Bad input (a file, a folder, a checkpoint): the message names it and says what is wrong and how to fix it."""


def find_input_error(error: BaseException | None) -> USInputError | None:
    """The outermost :class:`USInputError` in the chain of ``error`` (itself, its causes and contexts), or None."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        if isinstance(current, USInputError):
            return current
        seen.add(id(current))
        pending.extend([current.__cause__, current.__context__])
    return None


def input_error_lines(error: BaseException) -> str:
    """The closing lines printed for a chain that holds one of our errors ("" when there is none, or it is last)."""
    found = find_input_error(error)
    if found is None or found is error:
        return ""  # no input error, or it already is the last line of the traceback
    text = str(found)
    if "Original Traceback" in text:  # re-raised from a DataLoader worker: the message is the worker's traceback
        last = [line for line in text.splitlines() if line.strip()][-1]
        prefix = f"{type(found).__name__}: "
        text = last[last.find(prefix) + len(prefix):] if prefix in last else last
    return f"\nmonai_ext: stopped on bad input (traceback above):\n{type(found).__name__}: {text}\n"


def install_input_error_hook() -> bool:
    """Wrap ``sys.excepthook`` so that an uncaught chain holding a :class:`USInputError` ends with its message.

    Idempotent; the previous hook still prints the traceback. Set ``MONAI_EXT_EXCEPTHOOK=0`` to skip it.

    Returns:
        whether the hook is installed now.
    """
    if os.environ.get("MONAI_EXT_EXCEPTHOOK", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    previous = sys.excepthook
    if getattr(previous, _HOOK_MARK, False):
        return True

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        previous(exc_type, exc, tb)
        try:
            lines = input_error_lines(exc)
        except Exception:  # never let the hook itself hide the original failure
            lines = ""
        if lines:
            sys.stderr.write(lines)
            sys.stderr.flush()

    setattr(hook, _HOOK_MARK, True)
    sys.excepthook = hook
    return True
