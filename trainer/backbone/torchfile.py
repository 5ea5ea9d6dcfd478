"""Read a state dict saved by PyTorch's legacy (non-zip) `torch.save` format, without torch.

The legacy format is a run of pickles followed by raw storage bytes:

    pickle  magic number 0x1950A86A20F9469CFC6C
    pickle  protocol version 1001
    pickle  system info: {"protocol_version", "little_endian", "type_sizes"}
    pickle  the object itself (here an OrderedDict name -> tensor); every tensor is
            torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...) and every
            storage a persistent id ("storage", torch.FloatStorage, key, location, numel, view)
    pickle  the list of storage keys, in the order their bytes follow
    then, for each key: its element count as a little-endian int64, then count * itemsize bytes

The unpickler resolves only the handful of globals such a file needs, to inert stand-ins of
our own; any other global (os.system, builtins.eval, ...) is refused before it is looked up,
so loading never runs code named by the file.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from numpy.lib.stride_tricks import as_strided

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
_COUNT = struct.Struct("<q")
# What a malformed pickle can raise while being loaded by the restricted unpickler.
_MALFORMED = (AttributeError, IndexError, KeyError, OverflowError, TypeError, ValueError)

_STORAGE_DTYPES = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class TorchFileError(ValueError):
    """The file is missing, is no legacy torch.save state dict, or names a forbidden global."""


@dataclass(frozen=True, slots=True)
class _StorageType:
    """Stands in for torch.FloatStorage and friends: only carries the element type."""

    name: str
    dtype: str


@dataclass(frozen=True, slots=True)
class _StorageRef:
    """A storage named by a persistent id; its bytes follow the pickles."""

    key: str
    dtype: str
    numel: int
    view_of: str | None = None
    view_offset: int = 0


@dataclass(frozen=True, slots=True)
class _TensorRef:
    """A tensor whose storage has not been read yet."""

    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _int_tuple(value: object, what: str) -> tuple[int, ...]:
    if not isinstance(value, tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        raise pickle.UnpicklingError(f"tensor {what} {value!r} is not a tuple of ints >= 0")
    return value


def _rebuild_tensor_v2(storage: object, storage_offset: object, *args: object) -> _TensorRef:
    """Our torch._utils._rebuild_tensor_v2: records where the tensor lies, reads nothing yet."""
    if not isinstance(storage, _StorageRef):
        raise pickle.UnpicklingError("tensor built on something that is not a storage")
    if not isinstance(storage_offset, int) or storage_offset < 0 or len(args) < 2:
        raise pickle.UnpicklingError("malformed tensor record")
    size, stride = _int_tuple(args[0], "size"), _int_tuple(args[1], "stride")
    if len(size) != len(stride):
        raise pickle.UnpicklingError(f"tensor size {size} and stride {stride} differ in rank")
    return _TensorRef(storage, storage_offset, size, stride)


_ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    **{("torch", name): _StorageType(name, dtype) for name, dtype in _STORAGE_DTYPES.items()},
}


class _Unpickler(pickle.Unpickler):
    """Resolves only the allowed globals; turns persistent ids into storage references."""

    def __init__(self, file: BinaryIO, *, allow_globals: bool) -> None:
        super().__init__(file)
        self.allow_globals = allow_globals
        self.storages: dict[str, _StorageRef] = {}

    def find_class(self, module: str, name: str) -> Any:
        found = _ALLOWED_GLOBALS.get((module, name)) if self.allow_globals else None
        if found is None:
            raise pickle.UnpicklingError(
                f"refusing to load the global {module}.{name}: a state dict only needs "
                "OrderedDict, tensors and storages"
            )
        return found

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) == 6 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel, view = pid
        if not isinstance(storage_type, _StorageType) or not isinstance(key, str):
            raise pickle.UnpicklingError(f"malformed storage record {pid!r}")
        if not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"storage {key} has a bad size {numel!r}")
        root = self.storages.setdefault(key, _StorageRef(key, storage_type.dtype, numel))
        if root.dtype != storage_type.dtype:
            raise pickle.UnpicklingError(f"storage {key} is named with two element types")
        if view is None:
            return root
        # Old files may name a slice of a storage: (view key, offset, view size).
        view_key, view_offset, view_size = view
        return _StorageRef(view_key, root.dtype, view_size, view_of=key, view_offset=view_offset)


def _check_header(f: BinaryIO) -> bool:
    """Read the magic number, protocol and system-info pickles; return little_endian."""
    if f.read(2) == b"PK":
        raise pickle.UnpicklingError(
            "this is the zip-based torch.save format; only the legacy format is supported"
        )
    f.seek(0)
    if _Unpickler(f, allow_globals=False).load() != MAGIC_NUMBER:
        raise pickle.UnpicklingError("wrong magic number: not a legacy torch.save file")
    protocol = _Unpickler(f, allow_globals=False).load()
    if protocol != PROTOCOL_VERSION:
        raise pickle.UnpicklingError(f"unsupported torch.save protocol version {protocol!r}")
    sys_info = _Unpickler(f, allow_globals=False).load()
    if not isinstance(sys_info, dict) or not isinstance(sys_info.get("little_endian"), bool):
        raise pickle.UnpicklingError(f"malformed system info {sys_info!r}")
    little_endian: bool = sys_info["little_endian"]
    return little_endian


def _read_storages(
    f: BinaryIO, storages: Mapping[str, _StorageRef], *, little_endian: bool, file_size: int
) -> dict[str, np.ndarray]:
    """Read the storage-key list, then each storage's element count and raw bytes."""
    keys = _Unpickler(f, allow_globals=False).load()
    if not isinstance(keys, list) or sorted(keys) != sorted(storages):
        raise pickle.UnpicklingError("the storage list does not match the storages named")
    order: Literal["<", ">"] = "<" if little_endian else ">"
    arrays: dict[str, np.ndarray] = {}
    for key in keys:
        ref = storages[key]
        dtype = np.dtype(ref.dtype).newbyteorder(order)
        head = f.read(_COUNT.size)
        if len(head) != _COUNT.size:
            raise pickle.UnpicklingError(f"file ends before storage {key}")
        (count,) = _COUNT.unpack(head)
        if count != ref.numel:
            raise pickle.UnpicklingError(f"storage {key} holds {count} elements, not {ref.numel}")
        nbytes = count * dtype.itemsize
        if nbytes > file_size - f.tell():
            raise pickle.UnpicklingError(f"file ends inside storage {key}")
        arrays[key] = np.frombuffer(f.read(nbytes), dtype=dtype).astype(dtype.newbyteorder("="))
    return arrays


def _materialise(ref: _TensorRef, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
    storage = ref.storage
    if storage.view_of is None:
        data = arrays[storage.key]
    else:
        data = arrays[storage.view_of][storage.view_offset : storage.view_offset + storage.numel]
    if 0 in ref.size:
        return np.zeros(ref.size, dtype=data.dtype)
    last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride, strict=True))
    if last >= len(data):
        raise pickle.UnpicklingError(
            f"tensor of size {ref.size} reaches element {last} of a {len(data)}-element storage"
        )
    strides = tuple(s * data.itemsize for s in ref.stride)
    view = as_strided(data[ref.offset :], shape=ref.size, strides=strides, writeable=False)
    return np.array(view, order="C", copy=True)


def _load(f: BinaryIO, file_size: int) -> dict[str, np.ndarray]:
    little_endian = _check_header(f)
    unpickler = _Unpickler(f, allow_globals=True)
    obj = unpickler.load()
    if not isinstance(obj, Mapping) or not all(
        isinstance(k, str) and isinstance(v, _TensorRef) for k, v in obj.items()
    ):
        raise pickle.UnpicklingError("the saved object is not a mapping of names to tensors")
    arrays = _read_storages(f, unpickler.storages, little_endian=little_endian, file_size=file_size)
    return {name: _materialise(ref, arrays) for name, ref in obj.items()}


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Return the tensors of a legacy-format torch.save state dict as NumPy arrays, by name.

    Raises TorchFileError naming the file when it is missing, truncated, in another format, or
    names any global besides OrderedDict, tensor rebuilding and the typed storages.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TorchFileError(f"{path}: cannot read the weights file: {exc.strerror}") from exc
    try:
        return _load(io.BytesIO(raw), len(raw))
    except (pickle.UnpicklingError, EOFError, struct.error, *_MALFORMED) as exc:
        raise TorchFileError(f"{path}: not a readable legacy torch.save state dict: {exc}") from exc
