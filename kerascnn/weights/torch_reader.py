"""Reading PyTorch ``.pth`` state dicts (zip archives and the legacy stream) into numpy arrays
without torch and without running pickled code: the unpickler resolves only ``OrderedDict`` and
torch's tensor-rebuild functions and storage types, as numpy equivalents; it refuses the rest."""

from __future__ import annotations

import collections
import pickle
import struct
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

import numpy as np

from kerascnn.errors import UserError

__all__ = ["read_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_STORAGE_DTYPES = {  # little-endian, as torch writes them
    "FloatStorage": "<f4",
    "DoubleStorage": "<f8",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",  # numpy has no bfloat16: read as bits, widened to float32
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ShortStorage": "<i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


@dataclass
class _StorageType:
    name: str

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(_STORAGE_DTYPES[self.name])


@dataclass
class _Storage:
    kind: _StorageType
    numel: int
    data: np.ndarray | None = None

    def fill(self, raw: bytes) -> None:
        if len(raw) < self.numel * self.kind.dtype.itemsize:
            raise UserError("a .pth storage is shorter than declared; is the file truncated?")
        self.data = np.frombuffer(raw, self.kind.dtype, self.numel)
        if self.kind.name == "BFloat16Storage":  # widen to float32 exactly
            self.data = (self.data.astype(np.uint32) << 16).view(np.float32)


@dataclass
class _Tensor:
    storage: _Storage
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]

    def array(self) -> np.ndarray:
        data = self.storage.data
        if data is None:
            raise UserError(
                "a .pth tensor refers to a storage that the file does not contain; "
                "get the file again"
            )
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True))
        if self.offset < 0 or (all(self.size) and last >= data.size):
            raise UserError("a .pth tensor points outside its storage; get the file again")
        if not all(self.size):
            return np.zeros(self.size, data.dtype)
        strides = tuple(s * data.itemsize for s in self.stride)
        view = np.ndarray(self.size, data.dtype, data, self.offset * data.itemsize, strides)
        return np.array(view, dtype=data.dtype.newbyteorder("="))


def _rebuild_tensor(
    storage: _Storage, offset: int, size: Sequence[int], stride: Sequence[int], *_: object
) -> _Tensor:
    return _Tensor(storage, int(offset), tuple(size), tuple(stride))


def _rebuild_parameter(data: _Tensor, *_: object) -> _Tensor:
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    """Resolves only the names a state dict needs; ``load_storage(kind, key, numel)``."""

    def __init__(
        self, file: IO[bytes], load_storage: Callable[[_StorageType, str, int], _Storage]
    ) -> None:
        super().__init__(file, encoding="utf-8")  # as torch.load (Python 2 era files)
        self._load_storage = load_storage

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED:
            return _ALLOWED[module, name]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a .pth file")

    def persistent_load(self, pid: object) -> _Storage:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        kind, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(kind, _StorageType):
            raise pickle.UnpicklingError(f"unexpected storage type {kind!r}")
        if len(pid) > 5 and pid[5] is not None:  # legacy storage views: (key, offset, size)
            raise pickle.UnpicklingError("storage views in legacy .pth files are not supported")
        return self._load_storage(kind, key, numel)


def _read_zip(path: Path) -> object:
    with zipfile.ZipFile(path) as archive:
        pkl = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if len(pkl) != 1:
            raise UserError(
                f"{path}: not a torch .pth archive (no single data.pkl); "
                "give a file saved by torch.save"
            )
        prefix = pkl[0][: -len("data.pkl")]
        storages: dict[str, _Storage] = {}

        def load_storage(kind: _StorageType, key: str, numel: int) -> _Storage:
            if key not in storages:
                storage = _Storage(kind, numel)
                storage.fill(archive.read(f"{prefix}data/{key}"))
                storages[key] = storage
            return storages[key]

        with archive.open(pkl[0]) as f:
            return _Unpickler(f, load_storage).load()


def _read_legacy(path: Path) -> object:
    storages: dict[str, _Storage] = {}

    def load_storage(kind: _StorageType, key: str, numel: int) -> _Storage:
        return storages.setdefault(key, _Storage(kind, numel))

    def refuse(*_: object) -> NoReturn:  # called as load_storage(kind, key, numel)
        raise pickle.UnpicklingError("unexpected persistent id in a .pth header")

    with open(path, "rb") as f:
        header = _Unpickler(f, refuse)
        if header.load() != _LEGACY_MAGIC:
            raise UserError(
                f"{path}: not a torch .pth file (neither a zip archive nor legacy); "
                "give a file saved by torch.save"
            )
        header.load()  # protocol version
        header.load()  # system info
        result = _Unpickler(f, load_storage).load()
        keys = _Unpickler(f, refuse).load()
        for key in keys:
            storage = storages[str(key)]
            (numel,) = struct.unpack("<q", f.read(8))
            storage.fill(f.read(numel * storage.kind.dtype.itemsize))
    return result


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a ``.pth`` state dict as ``{key: numpy array}``, in file order."""
    path = Path(path)
    try:
        raw = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, struct.error) as exc:
        if isinstance(exc, UserError):
            raise
        raise UserError(
            f"{path}: cannot read this .pth file safely ({exc}); "
            "save a plain state dict: torch.save(model.state_dict(), path)"
        ) from None
    if isinstance(raw, dict) and isinstance(raw.get("state_dict"), dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict):
        raise UserError(
            f"{path}: expected a state dict, found {type(raw).__name__}; "
            "save one with torch.save(model.state_dict(), path)"
        )
    return {
        str(key).removeprefix("module."): value.array()
        for key, value in raw.items()
        if isinstance(value, _Tensor)
    }
