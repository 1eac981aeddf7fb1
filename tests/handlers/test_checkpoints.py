# Copyright (c) 2026 monai_ext contributors
# Licensed under the Apache License, Version 2.0 (the "License").
"""Tests of latest_checkpoint and of ResumableCheckpointHandler's resume flag and loading errors."""

from __future__ import annotations

import pytest
import torch

from monai_ext.handlers import ResumableCheckpointHandler, latest_checkpoint


def test_latest_by_number_not_by_name(tmp_path):
    assert latest_checkpoint(tmp_path / "missing") is None
    assert latest_checkpoint(tmp_path) is None
    for n in (9, 12, 100):
        (tmp_path / f"checkpoint_checkpoint_iteration={n}.pt").write_bytes(b"x")
    (tmp_path / "model.pt").write_bytes(b"x")
    assert latest_checkpoint(tmp_path).endswith("iteration=100.pt")


def _trainer_with_checkpoint(tmp_path, net):
    from ignite.engine import Engine

    engine = Engine(lambda e, b: None)
    torch.save({"model": net.state_dict(), "trainer": engine.state_dict()},
               tmp_path / "checkpoint_checkpoint_iteration=5.pt")
    return engine


def test_resume_false_from_the_command_line_does_not_resume(tmp_path):
    """`--resume false` reaches the handler as the string 'false' (bool('false') is True)."""
    net = torch.nn.Linear(2, 2)
    for value in ("false", "False", "no", "0", 0, False):
        handler = ResumableCheckpointHandler(str(tmp_path), {"model": net}, save_interval=10, resume=value)
        handler.attach(_trainer_with_checkpoint(tmp_path, net))
        assert handler.resumed_from is None, value
    handler = ResumableCheckpointHandler(str(tmp_path), {"model": net}, save_interval=10, resume="true")
    handler.attach(_trainer_with_checkpoint(tmp_path, net))
    assert handler.resumed_from.endswith("iteration=5.pt")
    with pytest.raises(ValueError, match=r"resume must be true or false .*got 'sometimes'"):
        ResumableCheckpointHandler(str(tmp_path), {"model": net}, save_interval=10, resume="sometimes")


def test_resuming_from_a_checkpoint_of_another_network_names_it(tmp_path):
    from monai_ext.handlers import USCheckpointError

    engine = _trainer_with_checkpoint(tmp_path, torch.nn.Linear(2, 3))
    handler = ResumableCheckpointHandler(str(tmp_path), {"model": torch.nn.Linear(2, 2)}, save_interval=10, resume=True)
    handler.attach(engine)
    with pytest.raises(USCheckpointError, match=r"iteration=5\.pt: does not fit the network Linear \('model'\): 2 of "
                                                r"2 entries have other shapes \(weight: checkpoint \(3, 2\)"):
        engine.run([0], max_epochs=1)


def test_checkpoints_are_written_atomically_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    from ignite.engine import Engine, Events

    from monai_ext.handlers import USAtomicCheckpointSaver

    net = torch.nn.Linear(2, 1)
    engine = Engine(lambda e, b: None)
    saver = USAtomicCheckpointSaver(save_dir=str(tmp_path), save_dict={"model": net}, save_interval=1, n_saved=1,
                                    epoch_level=False, save_final=True, final_filename="final.pt")
    saver.attach(engine)
    engine.run([0, 1], max_epochs=1)
    saved = sorted(p.name for p in tmp_path.iterdir())
    assert saved == ["final.pt", "model_iteration=2.pt"]
    before = (tmp_path / "final.pt").read_bytes()
    real_save = torch.save

    def save_half_then_die(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(10)  # what a kill mid-write leaves...
        raise KeyboardInterrupt  # ...and the kill itself

    monkeypatch.setattr(torch, "save", save_half_then_die)
    engine2 = Engine(lambda e, b: None)
    saver2 = USAtomicCheckpointSaver(save_dir=str(tmp_path), save_dict={"model": torch.nn.Linear(2, 1)},
                                     save_final=True, final_filename="final.pt")
    saver2.attach(engine2)
    with pytest.raises(KeyboardInterrupt):
        engine2.fire_event(Events.COMPLETED)
    assert (tmp_path / "final.pt").read_bytes() == before  # the old file is intact, no truncated one in its place
    assert torch.load(tmp_path / "final.pt", weights_only=True)["weight"].shape == (1, 2)  # one object: its state alone
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("tmp")]  # the partial temporary file is removed


def test_a_failed_first_save_leaves_no_file_at_all(tmp_path, monkeypatch):
    from ignite.engine import Engine, Events

    from monai_ext.handlers import USAtomicCheckpointSaver

    def save_half_then_fail(obj, f, *args, **kwargs):
        f.write(b"PK half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", save_half_then_fail)
    engine = Engine(lambda e, b: None)
    USAtomicCheckpointSaver(save_dir=str(tmp_path), save_dict={"model": torch.nn.Linear(2, 1)}, save_final=True,
                            final_filename="final.pt").attach(engine)
    with pytest.raises(OSError, match="No space left"):
        engine.fire_event(Events.COMPLETED)
    assert list(tmp_path.iterdir()) == []  # neither a truncated final.pt nor the temporary file


def test_what_the_resumable_handler_saves_and_restores(tmp_path):
    from ignite.engine import Engine

    class Method:  # a method with a state of its own (like the Mean Teacher's EMA teacher)
        def __init__(self):
            self.steps = 0

        def state_dict(self):
            return {"steps": self.steps}

        def load_state_dict(self, state):
            self.steps = state["steps"]

    net = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)

    def step(engine, batch):
        optimizer.zero_grad()
        net(torch.ones(1, 2)).sum().backward()
        optimizer.step()
        engine.method.steps += 1

    engine = Engine(step)
    engine.method = Method()
    ResumableCheckpointHandler(str(tmp_path), {"model": net, "optimizer": optimizer}, save_interval=2,
                               n_saved=2).attach(engine)
    engine.run(range(7), max_epochs=1)
    # every 2 iterations, the 2 newest kept, and the final state at the end
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint_checkpoint_iteration=4.pt",
        "checkpoint_checkpoint_iteration=6.pt",
        "checkpoint_final.pt",
    ]
    state = torch.load(tmp_path / "checkpoint_checkpoint_iteration=6.pt", weights_only=False)
    assert sorted(state) == ["method", "model", "optimizer", "trainer"]
    assert state["trainer"]["iteration"] == 6 and state["method"] == {"steps": 6}
    final = torch.load(tmp_path / "checkpoint_final.pt", weights_only=False)
    assert final["trainer"]["iteration"] == 7 and final["method"] == {"steps": 7}
    torch.testing.assert_close(final["model"]["weight"], net.weight.detach())
    assert latest_checkpoint(tmp_path).endswith("iteration=6.pt")  # the newest interval checkpoint, not "final"

    # resuming restores the weights, the method state and the iteration of the newest interval checkpoint (6)
    net2 = torch.nn.Linear(2, 1)
    optimizer2 = torch.optim.SGD(net2.parameters(), lr=0.1)
    engine2 = Engine(lambda e, b: None)
    engine2.method = Method()
    handler = ResumableCheckpointHandler(str(tmp_path), {"model": net2, "optimizer": optimizer2}, save_interval=2,
                                         resume=True)
    handler.attach(engine2)
    engine2.run(range(7), max_epochs=1)
    assert handler.resumed_from.endswith("iteration=6.pt")
    assert engine2.state.iteration == 7 and engine2.method.steps == 6  # one iteration left to run, state restored
    torch.testing.assert_close(net2.weight.detach(), state["model"]["weight"])


def test_refused_arguments():
    net = torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="save_interval must be a positive number of iterations, got 0"):
        ResumableCheckpointHandler("x", {"model": net}, save_interval=0)
    with pytest.raises(ValueError, match="must not contain 'trainer'"):
        ResumableCheckpointHandler("x", {"model": net, "trainer": net}, save_interval=1)


def test_resuming_without_a_checkpoint_starts_fresh_with_a_warning(tmp_path, caplog):
    from ignite.engine import Engine

    handler = ResumableCheckpointHandler(str(tmp_path), {"model": torch.nn.Linear(2, 2)}, save_interval=5, resume=True)
    with caplog.at_level("WARNING"):
        handler.attach(Engine(lambda e, b: None))
    assert handler.resumed_from is None
    assert f"resume requested but no checkpoint in {tmp_path}: starting from scratch." in caplog.text
