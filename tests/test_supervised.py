"""The supervised baseline: torchvision's ResNet-50 through torchvision's own weights API,
its download pointed at a local file, and the engine's predictions equal torchvision's."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
import torch

from clipdistill import resolve, supervised
from clipdistill.offline.hub_server import FileServer
from clipdistill.offline.synthetic_data import shape_image


def _cfg(tmp_path, profile="smoke", **over):
    return resolve(profile, {"work_dir": str(tmp_path / "work"), "device": "cpu", **over},
                   accelerator=False)


def _images(tmp_path, n=6):
    paths = []
    for i in range(n):
        path = tmp_path / f"img{i}.jpg"
        shape_image(("circle", "square", "triangle")[i % 3], 0, i).save(path, quality=90)
        paths.append(str(path))
    return paths


def test_a_bad_name_says_what_exists():
    with pytest.raises(supervised.SupervisedError, match="resnet50"):
        supervised.parse_supervised("resnet5/IMAGENET1K_V1")
    with pytest.raises(supervised.SupervisedError, match="IMAGENET1K_V1"):
        supervised.parse_supervised("resnet50/IMAGENET1K_V3")
    arch, weights = supervised.parse_supervised("resnet50/IMAGENET1K_V1")
    assert arch == "resnet50" and weights.meta["_metrics"]["ImageNet-1K"]["acc@1"] == 76.13


def test_predictions_are_torchvisions_own(tmp_path):
    """The engine (decoder, batches, cache) predicts exactly what torchvision's model does
    on ``weights.transforms()`` of each image: the reference implementation."""
    from PIL import Image

    clf = supervised.load_supervised(_cfg(tmp_path))  # seeded random weights
    paths = _images(tmp_path)
    ours = supervised.predict(clf, paths, cache_dir=tmp_path / "cache", batch_size=4,
                              progress=False)
    with torch.inference_mode():
        batch = torch.stack([clf.preprocess(Image.open(p).convert("RGB")) for p in paths])
        ref = clf.model(batch).argmax(1).numpy()
    assert ours.tolist() == ref.tolist()
    again = supervised.predict(clf, paths, cache_dir=tmp_path / "cache", progress=False)
    assert again.tolist() == ref.tolist()  # from the cache
    res = supervised.evaluate(clf, paths, ref, cache_dir=tmp_path / "cache", progress=False)
    assert res["accuracy"] == 1.0 and res["correct"] == res["images"] == len(paths)


@pytest.fixture
def weights_server(tmp_path, monkeypatch):
    """torchvision's ResNet-50 weights URL points at a local file with random values, named
    as torchvision names its files: ``resnet50-<first 8 hex of its SHA-256>.pth``."""
    import torchvision
    from torchvision.models import ResNet50_Weights

    torch.manual_seed(1)
    state = {k: v.half() if v.is_floating_point() else v
             for k, v in torchvision.models.resnet50().state_dict().items()}
    folder = tmp_path / "served"
    folder.mkdir()
    tmp = folder / "tmp.pth"
    torch.save(state, tmp)
    name = f"resnet50-{hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}.pth"
    tmp.rename(folder / name)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch-hub"))
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    with FileServer(folder) as server:
        monkeypatch.setattr(ResNet50_Weights.IMAGENET1K_V1.value, "url", f"{server.url}/{name}")
        yield server, state, folder / name


def test_real_weights_come_through_torchvisions_downloader(weights_server, tmp_path):
    server, state, served = weights_server
    clf = supervised.load_supervised(_cfg(tmp_path, "quick"))
    assert not clf.random_weights and clf.pretrained == "IMAGENET1K_V1"
    got = clf.model.state_dict()
    assert all(torch.equal(got[k].half() if v.is_floating_point() else got[k], v)
               for k, v in state.items())
    assert (tmp_path / "torch-hub" / "checkpoints" / served.name).is_file()  # torch.hub's cache
    n = len(server.requests)
    supervised.load_supervised(_cfg(tmp_path, "quick"))
    assert len(server.requests) == n == 1  # cached: not fetched again


def test_a_download_that_fails_its_hash_is_one_sentence_with_the_command(weights_server,
                                                                         tmp_path, monkeypatch):
    from torchvision.models import ResNet50_Weights

    server, _, served = weights_server
    wrong = served.with_name("resnet50-00000000.pth")  # torchvision checks the name's prefix
    served.rename(wrong)
    url = f"{server.url}/{wrong.name}"
    monkeypatch.setattr(ResNet50_Weights.IMAGENET1K_V1.value, "url", url)
    with pytest.raises(supervised.SupervisedError) as err:
        supervised.load_supervised(_cfg(tmp_path, "quick"))
    msg = str(err.value)
    assert "\n" not in msg and f"curl -L -o {tmp_path}/torch-hub/checkpoints/{wrong.name} {url}" in msg
    assert 'supervised_model to ""' in msg


def test_the_sweep_measures_it_on_the_imagenet_sets_only(tmp_path):
    from clipdistill.ensembles import supervised_baseline

    paths = _images(tmp_path, 4)
    splits = {"imagenetv2": (paths, np.array([0, 0, 1, 1]), ["tench", "goldfish"]),
              "cifar10": (paths, np.array([0, 1, 0, 1]), ["airplane", "automobile"])}
    table = supervised_baseline(_cfg(tmp_path), splits, progress=False)
    assert table["dataset"].tolist() == ["imagenetv2"]
    assert table.loc[0, "images"] == 4 and 0 <= table.loc[0, "correct"] <= 4
    assert supervised_baseline(_cfg(tmp_path, supervised_model=""), splits).empty


def test_chapter06_sets_it_beside_timms_figure():
    from clipdistill.comparison import comparison_table

    sweep = pd.DataFrame(columns=["model", "dataset", "template_set"])
    sweep.attrs["supervised"] = pd.DataFrame([{
        "model": "resnet50/IMAGENET1K_V1", "dataset": "imagenetv2", "classes": 1000,
        "images": 10_000, "correct": 6330, "accuracy": 0.633}])
    table = comparison_table({"04_prompt_ensembles": {"smoke": False, "config": {}}}, sweep)
    row = table[table["source"] == "timm"].iloc[0]
    assert row["experiment"] == "ImageNetV2 matched-frequency, supervised (ch. 4)"
    assert row["published"] == 0.6319 and row["verdict"] == "consistent"
    assert row["low"] < 0.633 < row["high"] and row["n"] == 10_000
