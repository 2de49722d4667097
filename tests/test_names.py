import pytest

from benchmark.core.names import Specs, expand, resolve
from benchmark.errors import BenchError, DataNotFound


def test_standard_names_parse_into_base_and_chain():
    s = resolve("kodak-x2-qf30", None)
    assert s.base == "kodak" and [d.name for d in s.chain] == ["downscale", "jpeg"]
    assert s.degradation == "x2-qf30" and s.scale == 2
    s = resolve("live1-gray-qf10", None)
    assert s.degradation == "gray-qf10" and s.chain[1].params["quality"] == 10
    s = resolve("vid4-hevccrf30", None)
    assert s.chain[0].params["codec"] == "libx265" and s.chain[0].params["crf"] == 30
    assert resolve("coco", None).degradation == "none"


def test_jpeg_token_options_are_selectable_and_recorded():
    d = resolve("live1-qf20s444pil", None).chain[0]
    assert d.params["subsampling"] == "444" and d.params["encoder"] == "pillow" and "libjpeg" in d.params
    assert d.label() == "qf20s444pil"


def test_unknown_base_lists_known_and_suggests():
    with pytest.raises(BenchError) as e:
        resolve("liv1-qf20", None)
    msg = str(e.value)
    assert "'live1'" in msg and "classic5" in msg and "qf10" in msg


def test_unknown_degradation_suggests():
    with pytest.raises(BenchError) as e:
        resolve("live1-qg20", None)
    assert "unknown degradation 'qg20'" in str(e.value)


def test_braces_expand_to_sweeps():
    assert expand("vid4-crf{20,25,30}") == ["vid4-crf20", "vid4-crf25", "vid4-crf30"]
    assert expand("live1-qf10") == ["live1-qf10"]


def test_paths_with_at(image_folder, frame_folder):
    s = resolve(f"{image_folder}@qf20", None)
    assert s.degradation == "qf20" and len(list(s.dataset.items())) == 3
    s = resolve(f"{frame_folder}@x2", None)
    items = list(s.dataset.items())
    assert len(items) == 1 and items[0].kind == "video" and s.scale == 2
    assert resolve(str(image_folder), None).degradation == "none"
    with pytest.raises(BenchError, match="does not exist"):
        resolve("./no/such/dir@qf20", None)


def test_missing_standard_set_says_where(tmp_path):
    s = resolve("live1-qf20", tmp_path)
    with pytest.raises(DataNotFound) as e:
        list(s.dataset.items())
    assert "images/LIVE1" in str(e.value) and str(tmp_path) in str(e.value)
    with pytest.raises(DataNotFound, match="BENCH_DATA_ROOT"):
        list(resolve("live1", None).dataset.items())


def test_spec_file_adds_datasets_and_degradations(tmp_path, image_folder):
    spec = tmp_path / "bench.toml"
    spec.write_text(
        f'[datasets.mine]\npath = "{image_folder.name}"\n\n[degradations.lowq]\nchain = "qf5s444"\n\n[degradations.pil30]\ntype = "jpeg"\nquality = 30\nencoder = "pillow"\n'
    )
    image_folder.rename(tmp_path / image_folder.name) if image_folder.parent != tmp_path else None
    specs = Specs.load([spec])
    s = resolve("mine-lowq", None, specs)
    assert s.degradation == "qf5s444" and len(list(s.dataset.items())) == 3
    assert resolve("mine-pil30", None, specs).chain[0].params["encoder"] == "pillow"
    bad = tmp_path / "bad.toml"
    bad.write_text("[datasets.x]\ntype='images'\n")
    with pytest.raises(BenchError, match="needs a 'path'"):
        Specs.load([bad])


def test_video_file_path_with_degradations(tmp_path):
    import av
    import numpy as np

    from benchmark.run.runner import RunConfig, run

    from conftest import smooth_image

    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as c:
        st = c.add_stream("libx264", rate=30, options={"crf": "10"})
        st.width, st.height, st.pix_fmt = 96, 64, "yuv420p"
        base = smooth_image(64, 96)
        for i in range(5):
            for p in st.encode(av.VideoFrame.from_ndarray(np.roll(base, i, axis=1), format="rgb24")):
                c.mux(p)
        for p in st.encode(None):
            c.mux(p)
    s = resolve(f"{path}@x2-crf30", None)
    item = next(iter(s.dataset.items()))
    assert item.kind == "video" and item.fps == 30.0 and s.degradation == "x2-crf30"
    res = run(
        RunConfig(methods=["bicubic"], datasets=[f"{path}@x2-crf30"], metrics=["psnr-y"], out=str(tmp_path / "o")),
        progress=False,
    )
    frames = res.rows[res.rows.scope == "frame"]
    assert len(frames) == 5 and (res.rows.status == "ok").all() and (frames.value > 20).all()
