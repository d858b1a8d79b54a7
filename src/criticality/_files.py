"""Reading back the files a run wrote, safely: nothing read back can run code.

Output folders are shared (a demo sent by a colleague, a cluster scratch space), so a file in
one is data, never a program. Tensors are read only with ``torch.load(weights_only=True)``
(tensors and plain containers) or safetensors; JSON with :mod:`json`. A file that does not load
that way is *damaged*: :class:`DamagedFileError` names it, and the caller moves it aside with
:func:`set_aside` and computes it again. torch's own message is never passed on: for a file we
did not write it advises ``weights_only=False``, which would run whatever code the file holds.

This module depends on no other part of the package but :mod:`criticality._meta`, so that every
floor (training checkpoints, the collapse generations, the experiments' units) can use it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from criticality._meta import atomic_write


class DamagedFileError(ValueError):
    """A file a run wrote that cannot be read back as what it should be.

    Attributes:
        path: the file.
        reason: what is wrong with it, in words.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path} is damaged ({reason})")


def set_aside(path: str | Path, label: str = "damaged") -> Path:
    """Rename ``path`` (a file or folder) to the first free ``NAME.LABEL-N`` beside it.

    Nothing is deleted: a damaged file stays for inspection, and work made with other settings
    stays for the user to take back.

    Returns:
        The new path.
    """
    path = Path(path)
    n = 1
    while (target := path.with_name(f"{path.name}.{label}-{n}")).exists():
        n += 1
    os.replace(path, target)
    return target


def read_json(path: str | Path) -> Any:
    """The JSON value in ``path``.

    Raises:
        FileNotFoundError: there is no such file.
        DamagedFileError: the file is cut short, not UTF-8 or not JSON.
    """
    path = Path(path)
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise DamagedFileError(path, f"cut short or not JSON: {err}") from None


def load_tensors(path: str | Path, *, map_location: str = "cpu") -> Any:
    """Tensors (and plain containers of them) from a file this package wrote.

    ``*.safetensors`` files are read with safetensors; every other file with
    ``torch.load(weights_only=True)``, which refuses any pickled object that is not a tensor,
    a number, a string or a plain container, so a crafted file cannot run code.

    Args:
        path: the file.
        map_location: where the tensors go (default the CPU).

    Raises:
        FileNotFoundError: there is no such file.
        DamagedFileError: the file is cut short, holds random bytes or holds anything but
            tensors and plain values (a pickled object, code).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device=map_location)
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch and safetensors raise many types for cut or foreign files
        raise DamagedFileError(
            path, f"not a tensor file of criticality: {type(err).__name__}"
        ) from None


def save_tensors(path: str | Path, value: Any) -> Path:
    """Write tensors and plain containers to ``path`` atomically (read with
    :func:`load_tensors`); a reader never sees half a file.

    ``*.safetensors`` takes a flat ``dict[str, Tensor]``; any other name is written with
    ``torch.save``.
    """
    import torch

    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import save

        return atomic_write(path, save({k: v.contiguous() for k, v in value.items()}))
    buffer = io.BytesIO()
    torch.save(value, buffer)
    return atomic_write(path, buffer.getvalue())
