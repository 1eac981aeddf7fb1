# Copyright (c) monai_ext contributors
# SPDX-License-Identifier: Apache-2.0
"""Suite-wide pytest hooks.

Tests marked ``public_code("VAR")`` compare our networks with the methods' public code, which is not ours to ship
and is never downloaded; they run when the environment variable ``VAR`` names a local checkout of it. Otherwise they
are deselected (counted as "deselected" in the summary, with the variables to set printed at the end), so a
machine without the public code runs the whole suite without skips.

Helpers that several test files used to copy live in :mod:`tests.fixtures` (imported by the test files); the
``dciodvfy`` fixture offers :func:`tests.fixtures.dciodvfy_errors` to pytest-style tests.
"""

from __future__ import annotations

import os

import pytest

from tests.fixtures import dciodvfy_errors

_NOTE = pytest.StashKey[str]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, dropped, wanted = [], [], set()
    for item in items:
        marker = item.get_closest_marker("public_code")
        if marker is not None and not os.environ.get(marker.args[0]):
            dropped.append(item)
            wanted.add(marker.args[0])
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
        config.stash[_NOTE] = (
            f"{len(dropped)} comparisons with the public code deselected: set {', '.join(sorted(wanted))} to local "
            "checkouts of it to run them"
        )


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    note = config.stash.get(_NOTE, None)
    if note:
        terminalreporter.write_line(note)


@pytest.fixture
def dciodvfy():
    """:func:`tests.fixtures.dciodvfy_errors`: the "Error" lines of dciodvfy for a file (skips without the tool)."""
    return dciodvfy_errors
