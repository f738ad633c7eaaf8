"""The profiles page's cost table comes from measured runs (costs.json), never from guesses."""

from __future__ import annotations

import json
from pathlib import Path

from clipdistill import costs
from clipdistill.book import write_costs_table


def test_measured_runs_become_the_table_and_unmeasured_profiles_say_so(tmp_path: Path):
    run_dir = tmp_path / "results" / "smoke"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({
        "profile": "smoke", "smoke": True, "status": "ok",
        "chapters": [{"chapter": "01_data_prep", "seconds": 30.0},
                     {"chapter": "05_distillation", "seconds": 150.0}]}))
    (run_dir / "05_distillation.json").write_text(json.dumps(
        {"provenance": {"peak_rss_mb": 1536.0}}))
    store = tmp_path / "costs.json"
    costs.record_run(run_dir, "2 CPU cores | shared", path=store)

    text = write_costs_table(tmp_path, store).read_text()
    assert text == (tmp_path / "book" / "_generated" / "costs_table.md").read_text()
    assert "3\u00a0min" in text and "1.5\u00a0GB" in text  # a value never wraps from its unit
    rows = text.replace("\u00a0", " ").splitlines()
    (smoke,) = [r for r in rows if r.startswith("| 1 | `smoke (CPU)`")]  # no GPU: CPU variant
    assert "2 CPU cores \\| shared" in smoke and "3 min" in smoke and "1.5 GB" in smoke
    assert any(r.startswith("| | `quick` | not measured yet") for r in rows)
    assert any(r.startswith("| | `paper` | not measured yet") for r in rows)
    assert "| chapter | 1: `smoke (CPU)` |" in rows  # per chapter, headed by run number
    assert "| 01_data_prep | 30 s, - |" in rows  # no results file: memory unknown, not guessed
    assert "| 05_distillation | 2 min, 1.5 GB |" in rows
    assert "| 03_vlm_descriptions | - |" in rows


def test_no_measured_run_at_all(tmp_path: Path):
    text = write_costs_table(tmp_path, tmp_path / "none.json").read_text()
    assert text.count("not measured yet") == 3 and "Per chapter" not in text


def test_a_run_with_a_gpu_is_the_full_profile(tmp_path: Path):
    run_dir = tmp_path / "results" / "quick"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({
        "profile": "quick", "status": "ok", "chapters": [{"chapter": "02_zero_shot_clip",
                                                         "seconds": 60.0}]}))
    (run_dir / "02_zero_shot_clip.json").write_text(json.dumps(
        {"provenance": {"peak_rss_mb": 1024.0, "hardware": {"cuda": "NVIDIA H100"}}}))
    store = tmp_path / "costs.json"
    assert costs.record_run(run_dir, "one H100", path=store)["device"] == "cuda"
    (row,) = costs.cost_table(path=store)
    assert row["profile"] == "quick"  # not "quick (CPU)": the whole profile ran


def test_the_parameter_tables_come_from_config_and_paste_into_set(tmp_path: Path):
    """Parameters that differ: one column per profile, the CPU variant in the same cell;
    the rest once. Values are code spans (no typographic quotes), JSON for --set."""
    from dataclasses import asdict

    from clipdistill.book import write_profiles_table
    from clipdistill.config import HARDWARE_ADJUSTMENTS, PROFILES, Config

    text = write_profiles_table(tmp_path).read_text()
    differ, _, same = text.partition("parameters are the same in every profile")
    head = differ.splitlines()[0]
    assert head == "| parameter | " + " | ".join(f"`{p}`" for p in PROFILES) + " |"
    (teachers,) = [r for r in differ.splitlines() if r.startswith("| `teachers` |")]
    cpu = json.dumps(HARDWARE_ADJUSTMENTS["quick"]["teachers"])
    assert f"without a GPU: `{cpu}`" in teachers  # what a CPU run does instead, beside it
    rows = {r.split(" | ")[0].split("<br>")[0] for r in text.splitlines() if r.startswith("| `")}
    shown = set(asdict(Config())) - {"profile", "profile_note", "smoke"}
    assert rows == {f"| `{k}`" for k in shown}  # every parameter, exactly once
    # under its name, what config.py's comment says a value means ("0" is often "all")
    assert "| `pets_per_class_limit`<br><small>0 = every file; N = a seeded sample" in text
    assert "<small>auto \\| cpu \\| cuda \\| mps</small>" in text  # a | cannot split a cell
    common = [r for r in same.splitlines() if r.startswith("| `")]
    assert differ.rstrip().endswith(f"The other {len(common)}")
