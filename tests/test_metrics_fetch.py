"""`bench metrics fetch` against a local HTTP server (``server`` in conftest.py): files land
where the metrics read them ($TORCH_HOME/hub), a cut download resumes, a wrong checksum is
refused and nothing is left, a second fetch is a no-op, a second source is tried when the
first fails, and a run afterwards finds the files. `bench metrics` and the cards."""

import dataclasses
import hashlib
import io

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from benchmark import registry
from benchmark.cli import app
from benchmark.files import metricweights

runner = CliRunner()


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    return home / "hub"


def _alexnet_bytes() -> bytes:
    import torchvision.models as tvm

    torch.manual_seed(1)
    buf = io.BytesIO()
    torch.save({f"features.{k}": v for k, v in tvm.AlexNet().features.state_dict().items()}, buf)
    return buf.getvalue()


@pytest.fixture
def served(server, torch_home, monkeypatch):
    """The alexnet and DISTS files served locally (random bytes of the right kind), declared
    with their sha256 and size; the DISTS file's first source answers 404."""
    alex = _alexnet_bytes()
    dists = b"D" * 5000 + bytes(range(256)) * 4
    server.files["/models/alexnet-owt-7be5be79.pth"] = alex
    server.files["/mirror/DISTS_weights-f5e65c96.pth"] = dists
    files = dict(metricweights.FILES)
    files["alexnet"] = dataclasses.replace(
        files["alexnet"],
        urls=(server.url("/models/alexnet-owt-7be5be79.pth"),),
        sha256=hashlib.sha256(alex).hexdigest(),
        size=len(alex),
    )
    files["dists-weights"] = dataclasses.replace(
        files["dists-weights"],
        urls=(server.url("/gone/DISTS_weights-f5e65c96.pth"), server.url("/mirror/DISTS_weights-f5e65c96.pth")),
        sha256=hashlib.sha256(dists).hexdigest(),
        size=len(dists),
    )
    monkeypatch.setattr(metricweights, "FILES", files)
    return {"alexnet": alex, "dists": dists}


def test_fetch_puts_the_files_where_the_metric_reads_them_then_a_run_finds_them(
    served, server, torch_home, image_folder, tmp_path
):
    assert "bench metrics fetch lpips" in registry.metrics.get("lpips").availability()
    r = runner.invoke(app, ["metrics", "fetch", "lpips", "-q"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    path = torch_home / "checkpoints" / "alexnet-owt-7be5be79.pth"
    assert (
        path.read_bytes() == served["alexnet"]
        and "verified" in r.output
        and hashlib.sha256(served["alexnet"]).hexdigest() in r.output
    )
    assert registry.metrics.get("lpips").availability() == "" and registry.metrics.get("tlp").availability() == ""
    n = len(server.paths)
    r = runner.invoke(app, ["metrics", "fetch", "lpips", "tlp", "alexnet", "-q"], env={"COLUMNS": "300"})
    assert (
        r.exit_code == 0 and r.output.count("already there") == 1 and len(server.paths) == n
    )  # one file, checked, not fetched again
    r = runner.invoke(
        app, ["run", "-q", "-d", f"{image_folder}@qf20", "--metrics", "psnr,lpips", "-o", str(tmp_path / "o")]
    )
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(tmp_path / "o" / "scores.parquet")
    lp = df[df.metric == "lpips"]
    assert len(lp) == 3 and (lp.status == "ok").all() and (lp.value > 0).all()


def test_fetch_resumes_after_a_cut(served, server, torch_home):
    data = served["alexnet"]
    (torch_home / "checkpoints").mkdir(parents=True)
    half = len(data) // 2
    (torch_home / "checkpoints" / "alexnet-owt-7be5be79.pth.part").write_bytes(data[:half])
    assert metricweights.state(metricweights.FILES["alexnet"]) == f"partial {half:,} bytes"
    r = runner.invoke(app, ["metrics", "fetch", "alexnet", "-q"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert server.ranges == [f"bytes={half}-"] and f"resumed from {half:,}" in r.output
    assert (torch_home / "checkpoints" / "alexnet-owt-7be5be79.pth").read_bytes() == data
    assert not (torch_home / "checkpoints" / "alexnet-owt-7be5be79.pth.part").exists()


def test_a_wrong_checksum_is_refused_and_nothing_is_left(served, torch_home, monkeypatch):
    bad = dataclasses.replace(metricweights.FILES["alexnet"], sha256="0" * 64)
    monkeypatch.setattr(metricweights, "FILES", {**metricweights.FILES, "alexnet": bad})
    r = runner.invoke(app, ["metrics", "fetch", "lpips", "-q"], env={"COLUMNS": "300"})
    text = " ".join(r.output.split())
    assert r.exit_code == 2 and "expected " + "0" * 64 in text and hashlib.sha256(served["alexnet"]).hexdigest() in text
    assert "Traceback" not in r.output
    assert not list((torch_home / "checkpoints").iterdir())  # neither the file nor a .part


def test_a_second_source_is_tried_and_offline_is_one_clear_error(served, server, torch_home, monkeypatch):
    r = runner.invoke(app, ["metrics", "fetch", "dists-weights", "-q"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    assert (
        "/gone/DISTS_weights-f5e65c96.pth" in server.paths
        and (torch_home / "pyiqa" / "DISTS_weights-f5e65c96.pth").read_bytes() == served["dists"]
    )
    closed = dataclasses.replace(
        metricweights.FILES["vgg16"], urls=("http://127.0.0.1:9/models/vgg16-397923af.pth",)
    )  # discard port
    monkeypatch.setattr(metricweights, "FILES", {**metricweights.FILES, "vgg16": closed})
    r = runner.invoke(app, ["metrics", "fetch", "dists", "--timeout", "5"], env={"COLUMNS": "300"})
    text = " ".join(r.output.split())
    assert r.exit_code == 2 and text.count("error:") == 1 and "cannot reach" in text and closed.urls[0] in text
    assert str(torch_home / "checkpoints" / "vgg16-397923af.pth") in text  # where an offline copy goes
    for bad in (["metrics", "fetch", "psnr"], ["metrics", "fetch", "no-such-metric"]):
        r = runner.invoke(app, bad, env={"COLUMNS": "300"})
        assert r.exit_code == 2 and "Traceback" not in r.output


def test_metrics_lists_present_missing_and_license(served, torch_home):
    runner.invoke(app, ["metrics", "fetch", "alexnet", "-q"])
    r = runner.invoke(app, ["metrics"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    lines = {l.split()[0]: l for l in r.output.splitlines() if l.strip()}
    assert "alexnet-owt-7be5be79.pth present" in lines["lpips"] and "BSD-2-Clause" in lines["lpips"]
    assert "vgg16-397923af.pth missing" in lines["dists"] and "DISTS_weights-f5e65c96.pth missing" in lines["dists"]
    assert "Apache-2.0 (piq" in lines["dists"] and "inception" in lines["fid"] and "no files to fetch" in lines["psnr"]
    assert "BSD-2-Clause-Patent" in lines["vmaf-neg"] and "PolyForm" in r.output


def test_cards_say_convention_range_license_and_sources(torch_home):
    r = runner.invoke(app, ["metrics", "card", "lpips", "dists", "vmaf-neg", "fid", "psnr"], env={"COLUMNS": "300"})
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    for s in (
        "lower is better",
        "range: 0 (identical)",
        "BSD-2-Clause",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
        "vmaf_v0.6.1neg",
        "0.3347",
        "torch-fidelity",
        "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        "Apache-2.0 (bench's code)",
    ):
        assert s in text, s


def test_pyiqa_downloads_are_routed_through_benchs_downloader(server, tmp_path):
    """`bench metrics fetch pyiqa:NAME` builds the model with torch.hub's and pyiqa's
    download_url_to_file replaced by bench's (resumable, the name's sha256 prefix checked)."""
    import torch.hub

    from benchmark.errors import BenchError
    from benchmark.metrics.pyiqa_any import bench_downloads

    good = b"weights" * 100
    prefix = hashlib.sha256(good).hexdigest()[:8]
    server.files[f"/w/model-{prefix}.pth"] = good
    server.files["/w/model-00000000.pth"] = good
    log: list = []
    with bench_downloads(timeout=5, progress=None, log=log):
        torch.hub.download_url_to_file(server.url(f"/w/model-{prefix}.pth"), str(tmp_path / f"model-{prefix}.pth"))
        with pytest.raises(BenchError, match="does not start with 00000000"):
            torch.hub.download_url_to_file(server.url("/w/model-00000000.pth"), str(tmp_path / "model-00000000.pth"))
    assert (tmp_path / f"model-{prefix}.pth").read_bytes() == good and not (tmp_path / "model-00000000.pth").exists()
    assert log[0]["verified"] and torch.hub.download_url_to_file.__module__ == "torch.hub"  # restored after the block


def test_a_run_never_downloads_a_pyiqa_file(tmp_path, monkeypatch):
    pytest.importorskip("pyiqa")
    import socket

    from benchmark.files.weights import WeightsMissing
    from benchmark.metrics.pyiqa_any import no_network

    with no_network("metric 'pyiqa:x'", "pyiqa:x"):
        with pytest.raises(WeightsMissing, match=r"bench metrics fetch pyiqa:x"):
            socket.create_connection(("127.0.0.1", 9), timeout=1)
    assert socket.socket.connect.__qualname__ == "socket.connect"
