"""``mixed_precision="auto"``: bfloat16 only where the hardware computes it (kerascnn._devices)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from kerascnn import _devices
from kerascnn.errors import UserError
from kerascnn.training.config import TrainConfig
from kerascnn.training.plan import dtype_policy
from tests.image_folders import make_image_folder

# /proc/cpuinfo excerpts: an AVX2 AMD EPYC (no bfloat16 arithmetic), an Intel Sapphire Rapids
# (AMX), and an ARM core, whose flags line is called "Features"
EPYC = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 sha_ni clzero arat
"""
SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 amx_tile
"""
GRAVITON = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid bf16 i8mm
"""


@pytest.fixture
def cpuinfo(tmp_path: Path):
    def write(text: str) -> Path:
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        return path

    return write


def test_cpu_flags_of_each_format(cpuinfo, tmp_path: Path):
    assert "avx2" in _devices.cpu_flags(cpuinfo(EPYC))
    assert {"amx_bf16", "avx512_bf16"} <= _devices.cpu_flags(cpuinfo(SAPPHIRE_RAPIDS))
    assert "bf16" in _devices.cpu_flags(cpuinfo(GRAVITON))
    assert _devices.cpu_flags(tmp_path / "missing") == frozenset()  # not Linux: no flags


def test_auto_picks_bfloat16_only_where_it_is_computed(cpuinfo, monkeypatch):
    monkeypatch.setattr(_devices, "accelerator", lambda: False)
    assert _devices.resolve_mixed_precision("auto", cpuinfo(EPYC)) is None  # float32
    assert _devices.resolve_mixed_precision("auto", cpuinfo(GRAVITON)) is None  # not measured
    assert _devices.resolve_mixed_precision("auto", cpuinfo(SAPPHIRE_RAPIDS)) == "bfloat16"
    for given in (None, "float16", "bfloat16"):  # what the user asks for is kept
        assert _devices.resolve_mixed_precision(given, cpuinfo(EPYC)) == given
    monkeypatch.setattr(_devices, "accelerator", lambda: True)
    assert _devices.resolve_mixed_precision("auto", cpuinfo(EPYC)) == "bfloat16"  # a GPU


def test_explicit_bfloat16_on_an_emulating_cpu_warns(monkeypatch, caplog):
    monkeypatch.setattr(_devices, "accelerator", lambda: False)
    monkeypatch.setattr(_devices, "amx_cpu", lambda cpuinfo=None: False)
    with caplog.at_level(logging.WARNING, "kerascnn.training"):
        assert dtype_policy("bfloat16") == "mixed_bfloat16"  # still honoured
    assert "emulated" in caplog.text and "'auto'" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, "kerascnn.training"):
        assert dtype_policy("auto") is None and dtype_policy("float16") == "mixed_float16"
    assert caplog.text == ""


def test_bad_value_is_one_line_before_any_work():
    assert TrainConfig(mixed_precision="auto").mixed_precision == "auto"
    with pytest.raises(UserError, match=r"float16, bfloat16 or auto, got 'fp8'; or leave"):
        TrainConfig(mixed_precision="fp8")


def test_engine_records_what_auto_resolved_to(tmp_path: Path):
    import keras

    from kerascnn.training import engine

    data = make_image_folder(tmp_path / "d", classes=2, per_class=8, size=16)
    history = engine.fit("gesture_cnn", data, epochs=1, batch_size=8, image_size=(16, 16),
                         model_args={"filters": (4,), "hidden": 8}, mixed_precision="auto",
                         output_dir=tmp_path / "run", verbose=0)  # fmt: skip
    native = _devices.accelerator() or _devices.amx_cpu()
    expected = "bfloat16" if native else "float32"
    assert history.model.get_layer("block1_conv1").compute_dtype == expected
    args = json.loads((tmp_path / "run" / "args.json").read_text())
    assert args["mixed_precision"] == "auto"
    assert args["dtype_policy"] == ("mixed_bfloat16" if native else "float32")
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
