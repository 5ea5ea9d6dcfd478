"""The legacy torch.save reader: real tensors out, and never a global it was not told about."""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from trainer.backbone.torchfile import MAGIC_NUMBER, PROTOCOL_VERSION, TorchFileError
from trainer.backbone.torchfile import load_state_dict as load

SYS_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"long": 4}}
HEADER = b"".join(pickle.dumps(o, protocol=2) for o in (MAGIC_NUMBER, PROTOCOL_VERSION, SYS_INFO))


# Pickle opcodes written by hand: pickling the real globals would need torch itself.
def _str(s: str) -> bytes:
    raw = s.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(i: int) -> bytes:
    return b"J" + struct.pack("<i", i)


def _tuple(values: Sequence[int]) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t"


def _global(module: str, name: str) -> bytes:
    return b"c" + f"{module}\n{name}\n".encode()


def _tensor(key: str, numel: int, offset: int, size: Sequence[int], stride: Sequence[int]) -> bytes:
    storage = (
        (b"(" + _str("storage") + _global("torch", "FloatStorage") + _str(key) + _str("cpu"))
        + _int(numel)
        + b"Nt"
        + b"Q"
    )
    hooks = _global("collections", "OrderedDict") + b")R"
    args = storage + _int(offset) + _tuple(size) + _tuple(stride) + b"\x89" + hooks
    return _global("torch._utils", "_rebuild_tensor_v2") + b"(" + args + b"tR"


def _legacy_file(tensors: dict[str, bytes], storages: dict[str, np.ndarray]) -> bytes:
    items = b"".join(_str(name) + record for name, record in tensors.items())
    main = b"\x80\x02" + _global("collections", "OrderedDict") + b")R(" + items + b"u."
    data = b"".join(
        struct.pack("<q", arr.size) + arr.astype("<f4").tobytes() for arr in storages.values()
    )
    return HEADER + main + pickle.dumps(list(storages), protocol=2) + data


def test_reads_strided_and_offset_tensors(tmp_path: Path) -> None:
    storage = np.arange(20, dtype=np.float32)
    path = tmp_path / "w.pth"
    path.write_bytes(
        _legacy_file(
            {
                "a": _tensor("0", 20, 0, (2, 3), (3, 1)),
                "transposed": _tensor("0", 20, 2, (3, 2), (1, 3)),
                "scalar": _tensor("0", 20, 19, (), ()),
            },
            {"0": storage},
        )
    )
    state = load(path)
    assert list(state) == ["a", "transposed", "scalar"]
    np.testing.assert_array_equal(state["a"], [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(state["transposed"], [[2, 5], [3, 6], [4, 7]])
    assert state["transposed"].flags.c_contiguous
    assert state["scalar"].shape == ()
    assert state["scalar"] == 19


def test_refuses_a_tensor_reaching_past_its_storage(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    path.write_bytes(_legacy_file({"a": _tensor("0", 4, 2, (3,), (1,))}, {"0": np.zeros(4)}))
    with pytest.raises(TorchFileError, match="reaches element 4"):
        load(path)


class _Evil:
    """Pickles as a call of os.system: loading it must not run the command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["state dict", "header"])
def test_refuses_a_forbidden_global(tmp_path: Path, where: str) -> None:
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Evil(marker), protocol=2)
    raw = HEADER + evil if where == "state dict" else evil + HEADER
    path = tmp_path / "evil.pth"
    path.write_bytes(raw)
    with pytest.raises(TorchFileError, match=r"evil\.pth.*refusing to load the global \w+\.system"):
        load(path)
    assert not marker.exists()


def test_refuses_eval_even_beside_real_tensors(tmp_path: Path) -> None:
    evil = _global("builtins", "eval") + b"(" + _str("1 + 1") + b"tR"
    raw = _legacy_file({"a": _tensor("0", 2, 0, (2,), (1,)), "b": evil}, {"0": np.zeros(2)})
    path = tmp_path / "w.pth"
    path.write_bytes(raw)
    with pytest.raises(TorchFileError, match=r"builtins\.eval"):
        load(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TorchFileError, match=r"nowhere\.pth: cannot read"):
        load(tmp_path / "nowhere.pth")


def test_truncated_file_is_named(tmp_path: Path) -> None:
    raw = _legacy_file({"a": _tensor("0", 8, 0, (8,), (1,))}, {"0": np.ones(8)})
    path = tmp_path / "cut.pth"
    for cut in (len(raw) - 4, len(HEADER) + 10, 5):
        path.write_bytes(raw[:cut])
        with pytest.raises(TorchFileError, match=r"cut\.pth: not a readable legacy"):
            load(path)


def test_zip_format_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "new.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", b"")
    with pytest.raises(TorchFileError, match=r"zip-based torch\.save format"):
        load(path)
