"""A results file says when its chapter ran with settings other than its profile's."""

from __future__ import annotations

import json

from clipdistill import report
from clipdistill.config import resolve
from clipdistill.results import changed_settings, save_results


def test_a_changed_setting_is_recorded_and_shown(tmp_path):
    own = resolve("smoke", {"results_dir": str(tmp_path), "data_root": str(tmp_path / "d"),
                            "num_workers": 1})
    assert changed_settings(own) == {}, "file locations and workers are not settings of a result"
    exercise = resolve("smoke", {"results_dir": str(tmp_path), "knn_k": 1})
    path = save_results(exercise, "02_zero_shot_clip", {"accuracy": 0.5})
    saved = json.loads(path.read_text())
    assert saved["settings_changed"] == {"knn_k": 1}

    text = report.changed_settings_text({"01_data_prep": {"settings_changed": {}},
                                         "02_zero_shot_clip": saved, "03_vlm_descriptions": None})
    assert "- 02: `knn_k=1`" in text and "01" not in text
    assert report.changed_settings_text({"01_data_prep": None}) == (
        "Every chapter ran with its profile's own settings.")
