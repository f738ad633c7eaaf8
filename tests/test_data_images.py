"""Safe loading and resizing: every odd file is converted correctly or skipped with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from clipdistill.data import BAD_FILE_KINDS, BadImage, ConvertJob, convert_file, convert_many, fit, make_bad_files, open_rgb


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return make_bad_files(tmp_path_factory.mktemp("zoo"))


@pytest.mark.parametrize("kind", sorted(BAD_FILE_KINDS))
def test_every_odd_file_is_used_or_skipped_with_its_reason(zoo, kind, tmp_path):
    outcome, expected = BAD_FILE_KINDS[kind]
    res = convert_file(ConvertJob(str(zoo[kind]), str(tmp_path / "out.jpg"), (48, 48)))
    if outcome == "used":
        assert res.status == "done", (kind, res)
        assert expected in res.note
        with Image.open(res.dst) as im:
            assert im.mode == "RGB" and im.size == (48, 48)
    else:
        assert res.status == "skipped" and res.reason == expected, (kind, res)
        assert not (tmp_path / "out.jpg").exists()
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


def test_open_rgb_raises_badimage_with_reason(zoo):
    with pytest.raises(BadImage) as err:
        open_rgb(zoo["zero_bytes"])
    assert err.value.reason == "empty file (0 bytes)"


def _px(im: Image.Image, x: int, y: int) -> np.ndarray:
    return np.asarray(im, dtype=int)[y, x]


def test_conversions_keep_the_right_colours(zoo):
    cmyk, _ = open_rgb(zoo["cmyk_jpeg"])
    r, g, b = _px(cmyk, 60, 45)
    assert r > 200 and g < 60 and b < 60, "CMYK red ink stays red"

    rgba, _ = open_rgb(zoo["rgba_png"])
    assert (_px(rgba, 2, 2) == 255).all(), "transparent pixels become white, not black"
    assert _px(rgba, 60, 45)[1] > 120, "opaque pixels keep their colour"

    la, _ = open_rgb(zoo["gray_alpha_png"])
    assert (_px(la, 5, 60) == 255).all()

    gray, _ = open_rgb(zoo["grayscale_jpeg"])
    arr = np.asarray(gray, dtype=int)
    assert gray.mode == "RGB" and (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()

    ramp, _ = open_rgb(zoo["sixteen_bit_png"])
    row = np.asarray(ramp, dtype=int)[0, :, 0]
    assert row[0] == 0 and row[-1] == 255 and abs(row[80] - 128) <= 2, "16-bit is scaled, not clipped"

    rgb16, _ = open_rgb(zoo["sixteen_bit_rgb_png"])
    red = np.asarray(rgb16, dtype=int)[0, :, 0]
    assert red[0] == 0 and red[-1] == 255 and abs(red[80] - 128) <= 2
    assert abs(_px(rgb16, 5, 5)[2] - 40_000 / 257) <= 1


def test_exif_orientation_is_honoured(zoo):
    im, note = open_rgb(zoo["exif_rotated_jpeg"])
    assert im.size == (100, 200), "stored 200x100 with orientation 6 displays as 100x200"
    top, bottom = _px(im, 50, 20), _px(im, 50, 180)
    assert top[0] > 180 and top[2] < 80, "the stored left (red) half is on top once rotated"
    assert bottom[2] > 180 and bottom[0] < 80
    assert "EXIF orientation 6" in note


def test_bomb_limit_is_configurable(tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (100, 100)).save(path)
    with pytest.raises(BadImage, match="decompression bomb"):
        open_rgb(path, max_pixels=5_000)
    assert open_rgb(path, max_pixels=10_000)[0].size == (100, 100)


@pytest.mark.parametrize("size", [(32, 48), (48, 32), 40])
def test_fit_gives_exact_size_in_both_modes(size):
    im = Image.new("RGB", (200, 50), (255, 0, 0))
    for mode in ("pad", "crop"):
        out = fit(im, size, mode)
        h, w = (size, size) if isinstance(size, int) else size
        assert out.size == (w, h)


def test_pad_keeps_everything_and_crop_fills_the_frame():
    wide = Image.new("RGB", (200, 100), (255, 0, 0))
    padded = fit(wide, 64, "pad", pad_color=(0, 0, 255))
    assert tuple(_px(padded, 32, 2)) == (0, 0, 255), "letterbox band above the image"
    assert _px(padded, 32, 32)[0] > 240
    cropped = fit(wide, 64, "crop")
    assert (np.asarray(cropped)[..., 0] > 240).all(), "no border at all"
    with pytest.raises(ValueError, match="Valid: pad, crop"):
        fit(wide, 64, "stretch")


def test_convert_is_idempotent_and_parallel_matches_serial(zoo, tmp_path):
    kinds = sorted(BAD_FILE_KINDS)
    jobs = [ConvertJob(str(zoo[k]), str(tmp_path / "a" / f"{k}.jpg"), (24, 24)) for k in kinds]
    first = convert_many(jobs, num_workers=2, progress=False)
    assert [r.src for r in first] == [j.src for j in jobs], "results keep the jobs' order"
    serial = convert_many([ConvertJob(j.src, j.dst.replace("/a/", "/b/"), j.size) for j in jobs], 1, progress=False)
    assert [r.status for r in first] == [r.status for r in serial]
    assert [r.reason for r in first] == [r.reason for r in serial]
    again = convert_many(jobs, num_workers=2, progress=False)
    assert {r.status for r, f in zip(again, first) if f.ok} == {"exists"}
