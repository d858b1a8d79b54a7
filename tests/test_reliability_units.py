"""The one unit cache (:func:`criticality.experiments._units.cached_unit`) and safe tensor files.

A crafted pickle in an output folder runs nothing; a unit file cut short, overwritten with
random bytes, of another schema or deleted is named, moved aside and computed again; a unit
made with another configuration is refused or set aside, never mixed.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
from pathlib import Path
from typing import Any

import pytest
import torch

from criticality._files import DamagedFileError, load_tensors, save_tensors
from criticality.experiments._units import cached_unit
from criticality.reporting import ConfigMismatchError, fresh_start


class _Payload:
    """Unpickling this runs ``os.system("touch MARKER")``: the attack of issue 28."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def _malicious(path: Path, marker: Path) -> None:
    """Write a pickle (as torch.save would, and as a bare pickle) whose loading runs code."""
    if path.suffix == ".json":
        path.write_bytes(pickle.dumps(_Payload(marker)))
    else:
        torch.save({"unit": 1, "config": "{}", "value": _Payload(marker)}, path)


class _Counter:
    def __init__(self, value: Any) -> None:
        self.calls, self.value = 0, value

    def __call__(self) -> Any:
        self.calls += 1
        return self.value


@pytest.mark.parametrize("name", ["model.pt", "samples.pt", "unit.json", "x.bin"])
def test_malicious_pickle_is_never_executed(tmp_path: Path, name: str, caplog) -> None:
    path, marker = tmp_path / name, tmp_path / "pwned"
    _malicious(path, marker)
    compute = _Counter({"w": torch.ones(2)} if name.endswith(".pt") else {"a": 1})
    with caplog.at_level(logging.WARNING):
        value = cached_unit(path, compute, config={"k": 1})
    assert not marker.exists(), "unpickling ran the payload"
    assert compute.calls == 1  # the crafted file was not trusted: the unit was computed again
    assert str(path) in caplog.text and "damaged" in caplog.text
    assert (tmp_path / f"{name}.damaged-1").is_file()  # kept for inspection, not deleted
    again = cached_unit(path, _Counter(None), config={"k": 1})
    assert str(again) == str(value)
    if name.endswith(".pt"):  # and the plain loader refuses it with the file named
        _malicious(path, marker)
        with pytest.raises(DamagedFileError, match=re.escape(str(path))):
            load_tensors(path)
        assert not marker.exists()


def test_plain_pickle_file_is_damaged_not_loaded(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(DamagedFileError, match=r"model\.pt is damaged") as err:
        load_tensors(path)
    assert "weights_only=False" not in str(err.value)  # never torch's unsafe advice
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".json", ".pt"])
@pytest.mark.parametrize("damage", ["truncate", "random", "delete", "schema", "empty"])
def test_damaged_unit_is_named_set_aside_and_recomputed(
    tmp_path: Path, suffix: str, damage: str, caplog
) -> None:
    path = tmp_path / f"unit{suffix}"
    value = {"acc": [0.5, 0.25]} if suffix == ".json" else {"w": torch.arange(6.0)}
    first = cached_unit(path, _Counter(value), config={"steps": 3})
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "random":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "delete":
        path.unlink()
    elif damage == "schema":
        if suffix == ".json":
            path.write_text('{"acc": [0.5, 0.25]}')  # a bare value: no config, no schema
        else:
            torch.save({"w": torch.arange(6.0)}, path)
    else:
        path.write_bytes(b"")
    compute = _Counter(value)
    with caplog.at_level(logging.WARNING):
        again = cached_unit(path, compute, config={"steps": 3})
    assert compute.calls == 1
    assert str(again) == str(first)
    if damage != "delete":
        assert f"{path} is damaged" in caplog.text
        assert (tmp_path / f"unit{suffix}.damaged-1").read_bytes() != b"x"  # kept
    # and the rewritten unit is whole again: read back without computing
    assert str(cached_unit(path, _Counter(None), config={"steps": 3})) == str(first)


def test_check_rejects_a_value_of_the_wrong_shape(tmp_path: Path, caplog) -> None:
    path = tmp_path / "unit.json"
    cached_unit(path, lambda: {"acc": 0.5}, config={})
    compute = _Counter({"acc": 0.5, "loss": 1.0})

    def check(v: Any) -> None:
        v["loss"]

    with caplog.at_level(logging.WARNING):
        assert cached_unit(path, compute, config={}, check=check) == {"acc": 0.5, "loss": 1.0}
    assert compute.calls == 1 and "fails the unit's check" in caplog.text


def test_changed_config_is_set_aside_or_refused(tmp_path: Path, caplog) -> None:
    path = tmp_path / "unit.json"
    cached_unit(path, lambda: [1, 2], config={"steps": 3, "lr": 0.1})
    with pytest.raises(ConfigMismatchError, match=r"steps: 3 there, 4 now"):
        cached_unit(path, _Counter([9]), config={"steps": 4, "lr": 0.1}, on_change="refuse")
    assert cached_unit(path, _Counter(None), config={"lr": 0.1, "steps": 3}) == [1, 2]
    with caplog.at_level(logging.WARNING):
        assert cached_unit(path, _Counter([9]), config={"steps": 4, "lr": 0.1}) == [9]
    assert "steps: 3 there, 4 now" in caplog.text
    kept = json.loads((tmp_path / "unit.json.replaced-1").read_text())
    assert kept["value"] == [1, 2] and kept["config"]["steps"] == 3


def test_fresh_sets_the_finished_unit_aside(tmp_path: Path) -> None:
    path = tmp_path / "unit.json"
    cached_unit(path, lambda: 1, config={})
    with fresh_start():
        assert cached_unit(path, lambda: 2, config={}) == 2
    assert (tmp_path / "unit.json.replaced-1").is_file()


def test_json_unit_reads_back_as_stored(tmp_path: Path) -> None:
    path = tmp_path / "unit.json"
    assert cached_unit(path, lambda: {"t": (1, 2)}, config={"s": (1,)}) == {"t": [1, 2]}
    assert cached_unit(path, _Counter(None), config={"s": [1]}) == {"t": [1, 2]}


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="on_change"):
        cached_unit(tmp_path / "u.json", lambda: 1, config={}, on_change="keep")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mapping"):
        cached_unit(tmp_path / "u.json", lambda: 1, config=[1])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["state.pt", "state.safetensors"])
def test_tensor_files_round_trip(tmp_path: Path, name: str) -> None:
    state = {"w": torch.randn(3, 4).t(), "b": torch.zeros(2)}  # a non-contiguous view too
    save_tensors(tmp_path / name, state)
    back = load_tensors(tmp_path / name)
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)
    (tmp_path / name).write_bytes((tmp_path / name).read_bytes()[:20])
    with pytest.raises(DamagedFileError, match=re.escape(name)):
        load_tensors(tmp_path / name)


def test_a_second_writer_of_a_units_folder_is_refused(tmp_path: Path) -> None:
    import fcntl

    from criticality.reporting import _folders

    folder = tmp_path / "parts"
    folder.mkdir()
    fd = os.open(folder / _folders.LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(ValueError, match="another run is writing"):
            cached_unit(folder / "unit.json", lambda: 1, config={})
    finally:
        os.close(fd)
    assert cached_unit(folder / "unit.json", lambda: 1, config={}) == 1
    _folders.release_under(tmp_path)


def test_finished_unit_and_write_unit_are_the_two_halves(tmp_path: Path) -> None:
    """For runs that compute their missing units elsewhere (an executor)."""
    from criticality.experiments._units import finished_unit, write_unit

    path = tmp_path / "unit.json"
    assert finished_unit(path, config={"s": 1}) == (False, None)
    assert write_unit(path, {"s": 1}, {"t": (1, 2)}) == {"t": [1, 2]}
    assert finished_unit(path, config={"s": 1}) == (True, {"t": [1, 2]})
    assert cached_unit(path, _Counter(None), config={"s": 1}) == {"t": [1, 2]}
    with pytest.raises(ConfigMismatchError, match=re.escape(str(path))):
        finished_unit(path, config={"s": 2}, on_change="refuse")


@pytest.mark.parametrize("damage", [b'{"unit": 1, "con', b"\x00\xff", None])
def test_a_damaged_stamp_is_replaced_and_every_unit_kept(
    tmp_path: Path, damage: bytes | None, caplog
) -> None:
    """A stamp that no longer says which settings made a folder's units costs no unit (each
    carries its settings); the partial work it alone vouched for is set aside, not deleted."""
    from criticality.experiments._units import stamped_folder

    folder, partial = tmp_path / "runs", tmp_path / "checkpoints"
    stamped_folder(folder, {"steps": 3}, unvouched=[partial])
    cached_unit(folder / "a.json", lambda: 1, config={"steps": 3})
    (partial / "b").mkdir(parents=True)
    (partial / "b" / "last.pt").write_bytes(b"half a run")
    if damage is None:
        (folder / "config.json").unlink()
    else:
        (folder / "config.json").write_bytes(damage)
    with caplog.at_level(logging.WARNING):
        assert stamped_folder(folder, {"steps": 3}, unvouched=[partial]) == folder
    assert cached_unit(folder / "a.json", _Counter(None), config={"steps": 3}) == 1
    assert not partial.exists()
    assert (tmp_path / "checkpoints.unstamped-1" / "b" / "last.pt").read_bytes() == b"half a run"
    assert "config.json holds no readable settings" in caplog.text
    if damage is not None:
        assert f"{folder / 'config.json'} is damaged" in caplog.text
        assert (folder / "config.json.damaged-1").read_bytes() == damage


def test_a_stamped_folder_refuses_other_settings_before_any_work(tmp_path: Path) -> None:
    from criticality.experiments._units import stamped_folder

    stamped_folder(tmp_path / "runs", {"steps": 3, "lr": 0.1})
    with pytest.raises(ConfigMismatchError, match=r"steps: 3 there, 4 now.*--fresh"):
        stamped_folder(tmp_path / "runs", {"steps": 4, "lr": 0.1})
    cached_unit(tmp_path / "runs" / "a.json", lambda: 1, config={"steps": 3, "lr": 0.1})
    (tmp_path / "checkpoints" / "b").mkdir(parents=True)
    with fresh_start():  # the whole folder, and the partial work beside it, set aside
        stamped_folder(
            tmp_path / "runs", {"steps": 4, "lr": 0.1}, unvouched=[tmp_path / "checkpoints"]
        )
        assert cached_unit(tmp_path / "runs" / "a.json", lambda: 2, config={"steps": 4}) == 2
    assert json.loads((tmp_path / "runs.replaced-1" / "a.json").read_text())["value"] == 1
    assert (tmp_path / "runs.replaced-1" / "config.json").is_file()
    assert (tmp_path / "checkpoints.replaced-1" / "b").is_dir()
    assert not list((tmp_path / "runs").glob("*.replaced-*"))


def test_a_folder_of_an_older_version_is_adopted_when_its_settings_match(tmp_path: Path) -> None:
    """Bare stamp and bare units (before unit files carried their settings): kept, not redone;
    with other settings the stamp refuses as before."""
    from criticality.experiments._units import stamped_folder

    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"seeds": [0, 1], "steps": 3}))
    (folder / "a.json").write_text(json.dumps({"acc": 0.5}))
    (folder / "b.json").write_text('{"acc": 0.')  # cut short: left for cached_unit to name
    with pytest.raises(ConfigMismatchError, match="steps"):
        stamped_folder(folder, {"seeds": (0, 1), "steps": 4})
    assert json.loads((folder / "a.json").read_text()) == {"acc": 0.5}  # untouched
    stamped_folder(folder, {"seeds": (0, 1), "steps": 3})
    assert cached_unit(folder / "a.json", _Counter(None), config={"seeds": (0, 1), "steps": 3}) == {
        "acc": 0.5
    }
    redo = _Counter({"acc": 0.25})
    assert cached_unit(folder / "b.json", redo, config={"seeds": (0, 1), "steps": 3}) == redo.value
