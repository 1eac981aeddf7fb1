# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of TerminalProgressBar."""

from __future__ import annotations

from ignite.engine import Engine

from monai_ext.handlers import TerminalProgressBar


def test_no_bar_without_terminal_and_bar_when_forced():
    engine = Engine(lambda e, b: [{"loss": 0.5}])
    quiet = TerminalProgressBar(tag="train")  # pytest captures stderr: not a terminal
    quiet.attach(engine)
    assert quiet.bar is None
    forced = TerminalProgressBar(tag="train", force=True)
    forced.attach(engine)
    assert forced.bar is not None
    engine.run(range(3), max_epochs=1)
    assert TerminalProgressBar._loss([{"loss": 0.25}]) == {"loss": 0.25}
    assert TerminalProgressBar._loss({"loss": 1.0}) == {"loss": 1.0}
    assert TerminalProgressBar._loss(None) == {}
