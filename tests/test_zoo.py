"""The model zoo: `bench models`, `bench models fetch` against a local HTTP server (resume,
checksum; the ``server`` fixture is in conftest.py), and zoo names as method names."""

import hashlib

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.files import zoo

pytest.importorskip("spandrel")


@pytest.fixture
def tiny_zoo(tmp_path, server, monkeypatch):
    """A zoo of one tiny x4 model served by the local server, with BENCH_MODELS_DIR in tmp_path."""
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(0)
    src = tmp_path / "tiny_x4.safetensors"
    save_file({k: v.contiguous() for k, v in Compact(num_feat=8, num_conv=2, upscale=4).state_dict().items()}, str(src))
    data = src.read_bytes()
    server.files["/release/tiny_x4.safetensors"] = data
    url = f"http://127.0.0.1:{server.server_address[1]}/release/tiny_x4.safetensors"
    model = zoo.ZooModel(
        "tiny-x4",
        "test SR",
        4,
        "Compact",
        "MIT",
        "nobody: a test, 2026",
        url,
        hashlib.sha256(data).hexdigest(),
        len(data),
    )
    monkeypatch.setattr(zoo, "MODELS", [model])
    monkeypatch.setattr(zoo, "ZOO", {model.name: model})
    monkeypatch.setenv(zoo.ENV_MODELS_DIR, str(tmp_path / "models"))
    return model, data


def test_models_lists_the_zoo():
    r = CliRunner().invoke(app, ["models"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    for name in (
        "realesrgan-x4plus",
        "realesrgan-x2plus",
        "realesr-general-x4v3",
        "swinir-classical-x2",
        "swinir-classical-x4",
        "fbcnn-color",
        "drunet-color",
        "scunet-color-real-psnr",
    ):
        assert name in r.output
    assert "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1" in r.output  # RealESRGAN_x4plus.pth
    assert "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.0/RealESRGAN_x4plus.pth" in r.output
    assert "BSD-3-Clause" in r.output and "arXiv:2108.10257" in r.output


def test_fetch_then_the_zoo_name_is_a_method(tiny_zoo, tmp_path, image_folder):
    model, data = tiny_zoo
    r = CliRunner().invoke(app, ["models", "fetch", "tiny-x4", "-q"])
    assert r.exit_code == 0, r.output
    path = tmp_path / "models" / "tiny_x4.safetensors"
    assert path.read_bytes() == data and "verified" in r.output and model.sha256 in r.output
    r = CliRunner().invoke(app, ["models", "fetch", "tiny-x4", "-q"])
    assert r.exit_code == 0 and "already there" in r.output
    r = CliRunner().invoke(
        app,
        [
            "run",
            "-q",
            "-m",
            "bicubic,tiny-x4",
            "-d",
            f"{image_folder}@x4",
            "--metrics",
            "psnr",
            "-o",
            str(tmp_path / "o"),
        ],
    )
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    assert set(df.method) == {"bicubic", "tiny-x4"} and (df.status == "ok").all()
    assert df[df.method == "tiny-x4"].method_version.iloc[0] == f"1+Compact-{model.sha256[:12]}"


def test_fetch_resumes_a_partial_download(tiny_zoo, server, tmp_path):
    model, data = tiny_zoo
    (tmp_path / "models").mkdir()
    half = len(data) // 2
    (tmp_path / "models" / "tiny_x4.safetensors.part").write_bytes(data[:half])
    r = CliRunner().invoke(app, ["models", "fetch", "tiny-x4", "-q"])
    assert r.exit_code == 0, r.output
    assert server.ranges == [f"bytes={half}-"] and f"resumed from {half:,}" in r.output
    assert (tmp_path / "models" / "tiny_x4.safetensors").read_bytes() == data
    assert not (tmp_path / "models" / "tiny_x4.safetensors.part").exists()
    # a server that ignores the range: the download starts over and is still right
    (tmp_path / "models" / "tiny_x4.safetensors").unlink()
    (tmp_path / "models" / "tiny_x4.safetensors.part").write_bytes(data[:half])
    server.honour_ranges = False
    r = CliRunner().invoke(app, ["models", "fetch", "tiny-x4", "-q"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "models" / "tiny_x4.safetensors").read_bytes() == data


def test_checksum_mismatch_is_a_clear_error(tiny_zoo, monkeypatch, tmp_path):
    model, data = tiny_zoo
    bad = zoo.ZooModel(**{**model.__dict__, "sha256": "0" * 64})
    monkeypatch.setattr(zoo, "ZOO", {bad.name: bad})
    r = CliRunner().invoke(app, ["models", "fetch", "tiny-x4", "-q"])
    assert r.exit_code == 2 and "expected " + "0" * 64 in r.output and hashlib.sha256(data).hexdigest() in r.output
    assert "Traceback" not in r.output
    assert not list((tmp_path / "models").iterdir())  # neither the file nor a .part is left


def test_unknown_checksum_is_reported_not_verified(tiny_zoo, monkeypatch):
    model, data = tiny_zoo
    unknown = zoo.ZooModel(**{**model.__dict__, "sha256": None, "size": None})
    monkeypatch.setattr(zoo, "ZOO", {unknown.name: unknown})
    r = CliRunner().invoke(app, ["models", "fetch", "tiny-x4", "-q"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert hashlib.sha256(data).hexdigest() in r.output and "NOT checked" in r.output


def test_offline_zoo_name_fails_at_once_with_url_checksum_and_place(tiny_zoo, tmp_path, image_folder, monkeypatch):
    model, _ = tiny_zoo
    r = CliRunner().invoke(app, ["run", "-q", "-m", "tiny-x4", "-d", f"{image_folder}@x4"], env={"COLUMNS": "300"})
    assert r.exit_code == 2
    out = " ".join(r.output.split())
    assert model.url in out and model.sha256 in out and str(tmp_path / "models" / "tiny_x4.safetensors") in out
    assert "bench models fetch tiny-x4" in out
    closed = zoo.ZooModel(**{**model.__dict__, "url": "http://127.0.0.1:9/nothing/tiny_x4.safetensors"})  # discard port
    monkeypatch.setattr(zoo, "ZOO", {closed.name: closed})
    r = CliRunner().invoke(app, ["models", "fetch", "tiny-x4", "--timeout", "5"], env={"COLUMNS": "300"})
    out = " ".join(r.output.split())
    assert r.exit_code == 2 and "cannot reach" in out and closed.url in out and model.sha256 in out
    r = CliRunner().invoke(app, ["models", "fetch", "no-such-model"])
    assert r.exit_code == 2 and "no zoo model" in r.output


def test_file_hash_memo_sees_a_same_size_rewrite_with_the_same_stat(tmp_path, monkeypatch):
    """A weights file rewritten in place with the same size, inside one timestamp tick (its
    stat unchanged), must not keep its old hash; a file left alone is hashed once."""
    import hashlib
    import os
    import time

    from benchmark.files import weights

    f = tmp_path / "m.pth"
    f.write_bytes(b"a" * 64)
    st = f.stat()
    assert weights.file_sha256(f) == hashlib.sha256(b"a" * 64).hexdigest()
    f.write_bytes(b"b" * 64)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime: as if within the same tick
    assert weights.file_sha256(f) == hashlib.sha256(b"b" * 64).hexdigest()
    old = f.stat().st_mtime_ns - 10 * weights.RACY_NS  # a file last changed long ago is remembered
    os.utime(f, ns=(old, old))
    calls = []
    monkeypatch.setattr(weights, "sha256_file", lambda p: calls.append(p) or hashlib.sha256(p.read_bytes()).hexdigest())
    monkeypatch.setattr(weights, "_file_hashes", {})
    monkeypatch.setattr(
        time, "time_ns", lambda: f.stat().st_ctime_ns + 10 * weights.RACY_NS
    )  # (ctime cannot be set back)
    weights.file_sha256(f), weights.file_sha256(f)
    assert len(calls) == 1
