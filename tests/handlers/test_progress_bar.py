# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of monai_ext.handlers.progress_bar: what TerminalProgressBar renders, and that it stays off without a
terminal and closes at completion."""

from __future__ import annotations

import io
import sys

from ignite.engine import Engine, Events

from monai_ext.handlers import TerminalProgressBar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run(monkeypatch, stream: io.StringIO, outputs: list, **kwargs):
    """Run a 3-iteration engine whose steps return ``outputs``, with standard error going to ``stream``."""
    monkeypatch.setattr(sys, "stderr", stream)
    values = iter(outputs)
    engine = Engine(lambda e, b: next(values))
    handler = TerminalProgressBar(**kwargs)
    handler.attach(engine)
    open_bars = []
    if handler.bar is not None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: open_bars.append(handler.bar.pbar.n))
    engine.run(range(len(outputs)), max_epochs=1)
    return handler, open_bars, stream.getvalue()


def test_on_a_terminal_the_bar_shows_tag_progress_and_loss_then_closes(monkeypatch):
    handler, open_bars, text = _run(monkeypatch, _Terminal(), [[{"loss": 0.5}], [{"loss": 0.25}], {"loss": 0.125}],
                                    tag="train")
    assert handler.bar is not None
    assert open_bars == [1, 2, 3]  # one step per iteration, the bar open during the epoch
    frames = text.split("\r")
    assert frames[1].startswith("train[1/3]  33%|")  # the first frame: tag, iteration / total, percentage
    shown = [f for f in frames if f.startswith("train: [")]
    assert shown and all(f.split("]")[0] in ("train: [1/3", "train: [2/3", "train: [3/3") for f in shown)
    for loss in ("loss=0.5 ", "loss=0.25 ", "loss=0.125 "):  # the loss of each iteration, list or dict output
        assert any(loss in f for f in shown), loss
    # closed at completion: the bar is gone and, not persisting, its line is blanked
    assert handler.bar.pbar is None
    assert text.endswith("\r") and frames[-2].strip() == ""


def test_engines_without_a_loss_show_progress_only(monkeypatch):
    handler, _, text = _run(monkeypatch, _Terminal(), [None, {"pred": 1}, [{"image": 0}]], tag="validate")
    assert "validate: [" in text and "loss" not in text
    assert handler.bar.pbar is None


def test_without_a_terminal_nothing_is_written_unless_forced(monkeypatch):
    handler, open_bars, text = _run(monkeypatch, io.StringIO(), [{"loss": 1.0}] * 3, tag="train")
    assert handler.bar is None and open_bars == [] and text == ""  # batch jobs and CI logs stay clean
    handler, open_bars, text = _run(monkeypatch, io.StringIO(), [{"loss": 1.0}] * 3, tag="train", force=True)
    assert open_bars == [1, 2, 3] and "train: [" in text and "loss=1" in text
    assert handler.bar.pbar is None


def test_loss_of_the_outputs():
    assert TerminalProgressBar._loss([{"loss": 0.25}]) == {"loss": 0.25}
    assert TerminalProgressBar._loss({"loss": 1.0}) == {"loss": 1.0}
    assert TerminalProgressBar._loss([{"pred": 1}]) == {} and TerminalProgressBar._loss([]) == {}
    assert TerminalProgressBar._loss(None) == {}
