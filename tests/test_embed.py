"""The embedding engine: correct rows, a content-keyed cache that never serves stale rows,
atomic shards, resuming after an interruption."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from clipdistill import embed, models
from clipdistill.embed import decode, store
from clipdistill.io import file_digest
from tiny_clip import TINY, make_images, register


@pytest.fixture(scope="module")
def clip():
    register()  # fp32: rows are compared with a direct forward pass to 1e-5
    return models.load_clip(TINY, "openai", random_weights=True, cpu_dtype="float32")


@pytest.fixture
def images(tmp_path):
    return make_images(tmp_path / "images", 10)


class Counting:
    """Wrap clip.encode_image / encode_text and count what reaches the encoder."""

    def __init__(self, clip, monkeypatch):
        self.images = 0
        self.texts = 0
        enc_i, enc_t = clip.encode_image, clip.encode_text

        def encode_image(pixels, normalize=False, **kw):
            self.images += len(pixels)
            return enc_i(pixels, normalize, **kw)

        def encode_text(tokens, normalize=False, **kw):
            self.texts += len(tokens)
            return enc_t(tokens, normalize, **kw)

        monkeypatch.setattr(clip, "encode_image", encode_image)
        monkeypatch.setattr(clip, "encode_text", encode_text)


def _direct(clip, path):
    with torch.inference_mode():
        x = clip.preprocess(Image.open(path).convert("RGB"))[None]
        return torch.nn.functional.normalize(clip.encode_image(x), dim=-1)[0].numpy()


def test_rows_follow_paths_and_are_normalised(clip, images):
    order = images[::-1]
    X = embed.embed_images(clip, order, batch_size=4, num_workers=0, progress=False)
    assert X.dtype == np.float32 and X.shape == (10, 32)
    assert np.allclose(np.linalg.norm(X, axis=1), 1, atol=1e-5)
    for row, path in zip(X[:3], order[:3]):
        assert np.allclose(row, _direct(clip, path), atol=1e-5)


def test_workers_give_the_same_rows_as_the_main_process(clip, images, tmp_path):
    a = embed.embed_images(clip, images, batch_size=3, num_workers=0, progress=False)
    b = embed.embed_images(clip, images, batch_size=3, num_workers=2, progress=False, cache_dir=tmp_path / "c")
    assert np.allclose(a, b, atol=1e-6)


def test_empty_input(clip):
    assert embed.embed_images(clip, [], progress=False).shape == (0, 32)
    assert embed.embed_texts(clip, [], progress=False).shape == (0, 32)


def test_second_run_is_served_from_the_cache(clip, images, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = embed.embed_images(clip, images, cache_dir=cache, batch_size=4, num_workers=0, progress=False)
    count = Counting(clip, monkeypatch)
    again = embed.embed_images(clip, images, cache_dir=cache, batch_size=4, num_workers=0, progress=False)
    assert count.images == 0 and np.array_equal(first, again)
    assert (cache / clip.key / "model.json").is_file()
    assert not list(cache.rglob("*.tmp"))


def test_a_changed_image_is_never_served_stale(clip, images, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    before = embed.embed_images(clip, images, cache_dir=cache, batch_size=4, num_workers=0, progress=False)
    Image.new("RGB", (40, 40), (0, 200, 30)).save(images[3])  # same path, new bytes
    count = Counting(clip, monkeypatch)
    after = embed.embed_images(clip, images, cache_dir=cache, batch_size=4, num_workers=0, progress=False)
    assert count.images == 1
    assert not np.allclose(before[3], after[3])
    assert np.allclose(after[3], _direct(clip, images[3]), atol=1e-5)
    assert np.array_equal(np.delete(before, 3, axis=0), np.delete(after, 3, axis=0))


def test_the_cache_is_keyed_by_model_and_preprocessing(clip, images, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    embed.embed_images(clip, images, cache_dir=cache, num_workers=0, progress=False)
    other = models.load_clip(TINY, "webli", random_weights=True)  # other normalisation
    count = Counting(other, monkeypatch)
    embed.embed_images(other, images, cache_dir=cache, num_workers=0, progress=False)
    assert count.images == len(images)
    assert {p.name for p in cache.iterdir()} == {clip.key, other.key}


def test_identical_content_under_two_names_shares_a_row(clip, images, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    embed.embed_images(clip, images[:5], cache_dir=cache, num_workers=0, progress=False)
    copy = tmp_path / "copy.png"
    copy.write_bytes(images[0].read_bytes())
    count = Counting(clip, monkeypatch)
    X = embed.embed_images(clip, [copy], cache_dir=cache, num_workers=0, progress=False)
    assert count.images == 0 and np.allclose(X[0], _direct(clip, images[0]), atol=1e-5)


class Interrupted(Exception):
    pass


def test_an_interrupted_run_resumes_from_the_written_batches(clip, images, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    calls = {"n": 0}
    preprocess = clip.preprocess

    def flaky(img):
        calls["n"] += 1
        if calls["n"] == 7:  # dies in the middle of the second batch of 4
            raise Interrupted
        return preprocess(img)

    monkeypatch.setattr(clip, "preprocess", flaky)
    with pytest.raises(Interrupted):
        embed.embed_images(clip, images, cache_dir=cache, batch_size=4, num_workers=0, progress=False)
    monkeypatch.setattr(clip, "preprocess", preprocess)
    shards = list((cache / clip.key / "images").glob("*.npz"))
    assert len(shards) == 1 and not list(cache.rglob("*.tmp"))  # one whole batch, nothing partial

    count = Counting(clip, monkeypatch)
    X = embed.embed_images(clip, images, cache_dir=cache, batch_size=4, num_workers=0, progress=False)
    assert count.images == len(images) - 4
    reference = embed.embed_images(clip, images, batch_size=4, num_workers=0, progress=False)
    assert np.allclose(X, reference, atol=1e-6)


def test_many_shards_are_merged_and_still_read(clip, tmp_path, monkeypatch):
    paths = make_images(tmp_path / "more", 12, seed=3)
    cache = tmp_path / "cache"
    monkeypatch.setattr(store, "MERGE_ABOVE", 2)
    X = embed.embed_images(clip, paths, cache_dir=cache, batch_size=2, num_workers=0, progress=False)
    files = list((cache / clip.key / "images").iterdir())
    assert len(files) == 1 and files[0].name.startswith("seg-")  # one sorted segment
    assert sorted(p.name for p in files[0].iterdir()) == ["emb.npy", "keys.npy", "sums.npy"]
    count = Counting(clip, monkeypatch)
    assert np.array_equal(embed.embed_images(clip, paths, cache_dir=cache, num_workers=0, progress=False), X)
    assert count.images == 0


def test_wiping_the_cache_folder_recomputes(clip, images, tmp_path, monkeypatch):
    import shutil

    cache = tmp_path / "cache"
    embed.embed_images(clip, images, cache_dir=cache, num_workers=0, progress=False)
    shutil.rmtree(cache)
    count = Counting(clip, monkeypatch)
    embed.embed_images(clip, images, cache_dir=cache, num_workers=0, progress=False)
    assert count.images == len(images)


def test_worker_digest_equals_the_file_digest(images):
    assert embed.content_digest(images[0].read_bytes()) == file_digest(images[0])


def test_an_unreadable_image_names_the_file(clip, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(RuntimeError, match="broken.jpg"):
        embed.embed_images(clip, [bad], num_workers=0, progress=False)


def test_texts_are_cached_one_by_one(clip, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = embed.embed_texts(clip, ["a cat", "a dog", "a cat"], cache_dir=cache, progress=False)
    assert np.array_equal(first[0], first[2]) and np.allclose(np.linalg.norm(first, axis=1), 1, atol=1e-5)
    count = Counting(clip, monkeypatch)
    second = embed.embed_texts(clip, ["a dog", "a bird", "a cat"], cache_dir=cache, batch_size=1, progress=False)
    assert count.texts == 1  # only "a bird" is new
    assert np.array_equal(second[0], first[1]) and np.array_equal(second[2], first[0])
    with torch.inference_mode():
        direct = clip.encode_text(clip.tokenize(["a bird"]), normalize=True)[0].numpy()
    assert np.allclose(second[1], direct, atol=1e-5)


def test_real_photos_and_grayscale_digits(clip, shared_data, tmp_path):
    paths = sorted((shared_data / "PetImages" / "Cat").glob("*.jpg"))[:3]
    paths += sorted((shared_data / "mnist" / "test" / "7").glob("*.png"))[:2]
    X = embed.embed_images(clip, paths, cache_dir=tmp_path / "c", batch_size=4, num_workers=1, progress=False)
    assert X.shape == (5, 32) and np.isfinite(X).all()
    assert np.allclose(X[3], _direct(clip, paths[3]), atol=1e-5)


def test_benchmark_reports_cold_and_warm(clip, images):
    result = embed.benchmark(clip, images[:4], batch_size=2, num_workers=0, texts=["a cat", "a dog"])
    for key in ("cold_images_per_s", "warm_images_per_s", "peak_memory_mb", "texts_per_s"):
        assert result[key] > 0
    assert result["images"] == 4 and result["memory_kind"]


def test_hugging_face_models_go_through_the_same_engine(images, tmp_path):
    import pickle

    from tiny_clip import TINY_HF

    hf = models.load_clip(TINY_HF, random_weights=True, cpu_dtype="float32")
    pickle.dumps(hf.preprocess)  # workers can receive it even where processes are spawned
    X = embed.embed_images(hf, images[:6], cache_dir=tmp_path / "c", batch_size=3, num_workers=1, progress=False)
    assert X.shape == (6, 32) and np.allclose(X[4], _direct(hf, images[4]), atol=1e-5)
    T = embed.embed_texts(hf, ["a cat"], cache_dir=tmp_path / "c", progress=False)
    assert np.isclose(np.linalg.norm(T[0]), 1, atol=1e-5)


def test_split_preprocessing_is_bit_identical(clip, images, shared_data):
    """Workers ship uint8; the batch becomes float and normalised in one step, same bits."""
    per_image, per_batch = embed.split_preprocess(clip.preprocess)
    assert per_image is not clip.preprocess  # open_clip's pipeline ends in ToTensor + Normalize
    photos = sorted((shared_data / "dogs-vs-cats" / "train").rglob("*.jpg"))[:3]
    pics = [Image.open(p).convert("RGB") for p in [*images[:3], *photos]]
    parts = [per_image(p) for p in pics]
    assert all(t.dtype == torch.uint8 for t in parts)
    assert torch.equal(per_batch(torch.stack(parts)), torch.stack([clip.preprocess(p) for p in pics]))


def test_preprocessing_that_cannot_be_split_is_kept_whole():
    hf = models.load_clip("tiny/clip-test", random_weights=True)
    per_image, per_batch = embed.split_preprocess(hf.preprocess)
    x = torch.rand(2, 3, 4, 4)
    assert per_image is hf.preprocess and per_batch(x) is x


def test_cpu_threads_and_dataloader_workers_give_the_same_batches(clip, images):
    """A CPU decodes with threads between encoder steps; an accelerator uses DataLoader
    workers. Both must hand the encoder the same batches, in order."""
    per_image, _ = embed.split_preprocess(clip.preprocess)
    dataset = decode.ImageFiles([str(p) for p in images], frozenset(), per_image)
    threaded = list(decode.batches(dataset, 4, 2, torch.device("cpu")))
    workers = decode.batches(dataset, 4, 2, torch.device("meta"))  # any non-CPU device
    assert isinstance(workers, torch.utils.data.DataLoader) and workers.num_workers == 2
    workers = list(workers)
    assert [b["index"] for b in threaded] == [b["index"] for b in workers] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert all(a["digest"] == b["digest"] and torch.equal(a["pixels"], b["pixels"])
               for a, b in zip(threaded, workers))


def test_speed_table_names_its_rows_and_rounds_its_rates():
    from clipdistill.embed import speed_table

    shown = speed_table({"images": 32, "device": "cpu", "cold_seconds": 4.9,
                         "cold_images_per_s": 6.54, "warm_seconds": 0.0,
                         "warm_images_per_s": 10368.17, "peak_memory_mb": 1912.1,
                         "memory_kind": "process peak RSS"})
    assert shown["images/s, empty cache (read, decode, encode)"] == "6.5"
    assert shown["images/s, warm cache (read back)"] == "10,368.2"
    assert shown["peak memory, MB (process peak RSS)"] == "1,912"
    assert not any("seconds" in row for row in shown.index)
    assert shown["prompts/s (text tower)"] == "–"  # no prompts timed: a dash, not NaN


def test_a_bar_read_from_the_cache_says_so(clip, images, tmp_path, capsys):
    # A read-back runs at thousands of images a second; the bar must not pass for the
    # model's speed.
    cache = tmp_path / "cache"
    embed.embed_images(clip, images[:3], cache_dir=cache, batch_size=4, num_workers=0,
                       progress=False)
    embed.embed_images(clip, images, cache_dir=cache, batch_size=4, num_workers=0, desc="pets")
    embed.embed_images(clip, images, cache_dir=cache, batch_size=4, num_workers=0, desc="again")
    err = capsys.readouterr().err
    assert "pets (3 cached)" in err and "again (all cached)" in err
