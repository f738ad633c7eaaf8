"""A chapter's first cells: papermill parameters, the smoke label and the cost box."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from clipdistill import costs, session
from clipdistill.config import ConfigError
from clipdistill.session import SMOKE_BANNER


def _chapter(path: Path, declared: str = "", profile: str = "smoke") -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(f'profile = "{profile}"\noverrides = {{}}\n{declared}')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "import json, clipdistill as cd\n"
            "cfg = cd.setup('02_zero_shot_clip', profile, overrides)\n"
            "print(json.dumps({'knn_k': cfg.knn_k, 'epochs': cfg.epochs, 'seed': cfg.seed}))"),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _run(tmp_path: Path, src: Path, **parameters):
    import papermill as pm

    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(src), str(out), parameters=parameters, cwd=str(tmp_path),
                        progress_bar=False, kernel_name="python3")
    outputs = nbformat.read(out, as_version=4).cells[-1].outputs
    return json.loads(next(o for o in outputs if o.get("name") == "stdout")["text"])


def test_papermill_parameters_reach_the_config(tmp_path):
    """`papermill -p knn_k 7` works for declared and undeclared parameters alike."""
    src = _chapter(tmp_path / "c.ipynb", declared="knn_k = None  # the profile's value")
    assert _run(tmp_path, src)["knn_k"] == 5  # None: the profile decides
    got = _run(tmp_path, src, knn_k=7, epochs=3, overrides={"seed": 4},
               work_dir=str(tmp_path / "work"), results_dir=str(tmp_path / "results"))
    assert got == {"knn_k": 7, "epochs": 3, "seed": 4}


def test_a_misspelt_papermill_parameter_fails_with_the_closest_names(tmp_path):
    import papermill as pm

    src = _chapter(tmp_path / "c.ipynb")
    with pytest.raises(pm.PapermillExecutionError, match="Unknown parameter 'knn_kk'.*knn_k"):
        _run(tmp_path, src, knn_kk=7)


def test_notebook_parameters_reads_config_fields_only():
    injected = '# Parameters\nprofile = "smoke"\nknn_k = 7\n'
    ns = {"In": ["", injected], "knn_k": 7, "epochs": None, "CHAPTER": "x", "metrics": {}}
    assert session.notebook_parameters(ns) == {"knn_k": 7}  # None means the profile's value
    with pytest.raises(ConfigError, match="did you mean knn_k"):
        session.notebook_parameters({"In": ["# Parameters\nknn_kk = 7\n"], "knn_kk": 7})


def test_costs_are_recorded_from_a_finished_run_and_shown(tmp_path):
    run_dir = tmp_path / "results" / "smoke"
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({
        "profile": "smoke", "smoke": True, "status": "ok",
        "chapters": [{"chapter": "01_data_prep", "seconds": 12.0},
                     {"chapter": "02_zero_shot_clip", "seconds": 95.0}]}))
    code = {"version": "0.1.0", "commit": "945bf385f5a65ee614ab0831bbbead26b47fe9d6", "dirty": True}
    (run_dir / "02_zero_shot_clip.json").write_text(json.dumps(
        {"provenance": {"peak_rss_mb": 2048.0, "code": code}}))
    store = tmp_path / "costs.json"
    record = costs.record_run(run_dir, "2 CPU cores", path=store)
    assert record["code"] == code  # which code was measured, from the chapters' own results
    assert record["total_seconds"] == 107.0 and record["weights"] == "random"
    costs.record_run(run_dir, "2 CPU cores", path=store)  # the same run again replaces it
    assert len(costs.load_costs(store)["runs"]) == 1
    (row,) = costs.cost_table("02_zero_shot_clip", path=store)
    assert (row["time"], row["peak memory"]) == ("2\u00a0min", "2.0\u00a0GB")
    box = costs.cost_box_html("02_zero_shot_clip", path=store)
    assert "2 CPU cores" in box and "ViT-B-32" in box  # measured row and quick's download
    assert f"<td>{record['date']}</td>" in box  # an older run's row says when it was measured
    assert "<code>945bf38+changes</code>" in box  # ... and which code it ran
    (run_dir / "run.json").write_text(json.dumps({"profile": "smoke", "status": "failed",
                                                  "chapters": []}))
    with pytest.raises(ValueError, match="did not finish"):
        costs.record_run(run_dir, "2 CPU cores", path=store)


def test_say_labels_commentary_on_random_weights(monkeypatch):
    import IPython.display

    import clipdistill as cd
    from clipdistill.config import resolve

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj.data))
    cd.say(resolve("quick", accelerator=True, weights_reachable=(True, "test")), "F1 0.99")
    cd.say(resolve("smoke"), "F1 0.99")
    assert shown[0] == "F1 0.99"
    assert shown[1].endswith("F1 0.99") and "random weights" in shown[1]
    assert shown[1].index("not a result") < shown[1].index("0.99")  # the label comes first


def test_a_misspelt_parameter_is_matched_against_the_chapters_own(tmp_path, repo_root):
    """`papermill 01_data_prep.ipynb out.ipynb -p overide '{}'`: the chapter's parameters
    cell declares `overrides`; that is the suggestion, and its names are the list."""
    import papermill as pm

    src = repo_root / "notebooks" / "01_data_prep.ipynb"
    cell = next(c for c in nbformat.read(src, as_version=4).cells
                if "parameters" in c.metadata.get("tags", []))
    declared = session._assigned(cell.source)
    with pytest.raises(pm.PapermillExecutionError) as failed:
        pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), parameters={"overide": {}},
                            cwd=str(src.parent), progress_bar=False, kernel_name="python3")
    message = failed.value.evalue
    assert "Unknown parameter 'overide' passed to the notebook. (did you mean overrides?)" in message
    assert f"This chapter's parameters: {', '.join(declared)};" in message
    assert "other_dir" not in message and "knn_k" not in message  # not every field


def test_a_misspelling_far_from_the_chapters_own_still_finds_its_field():
    history = ["", 'profile = "auto"\noverrides = {}\nknn_k = None\n', "# Parameters\nepoch = 3\n"]
    with pytest.raises(ConfigError) as failed:
        session.notebook_parameters({"In": history, "epoch": 3})
    assert "(did you mean epochs?)" in str(failed.value)
    assert "This chapter's parameters: profile, overrides, knn_k;" in str(failed.value)


def test_environment_settings_name_the_variable_when_wrong(tmp_path):
    env = {"CLIPDISTILL_PROFILE": "quick", "CLIPDISTILL_DATA_ROOT": str(tmp_path)}
    assert session.environment_settings(env) == ("quick", {"data_root": str(tmp_path.resolve())})
    assert session.environment_settings({"CLIPDISTILL_PROFILE": " "}) == (None, {})
    assert session.environment_settings(session.settings_environment("smoke", str(tmp_path))) == (
        "smoke", {"data_root": str(tmp_path.resolve())})
    with pytest.raises(ConfigError, match="CLIPDISTILL_PROFILE='smok' is not a profile.*smoke"):
        session.environment_settings({"CLIPDISTILL_PROFILE": "smok"})


def test_a_chapter_run_by_hand_takes_the_settings_make_lab_was_given(tmp_path, monkeypatch):
    """profile = "auto" and no data_root defer to the environment `clipdistill lab` sets;
    the first output says which profile runs, who asked, and where the data comes from."""
    import papermill as pm

    data = tmp_path / "data"
    data.mkdir()
    monkeypatch.setenv("CLIPDISTILL_PROFILE", "smoke")
    monkeypatch.setenv("CLIPDISTILL_DATA_ROOT", str(data))
    src = _chapter(tmp_path / "c.ipynb", profile="auto")
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(src), str(out), cwd=str(tmp_path), progress_bar=False,
                        kernel_name="python3")
    cell = nbformat.read(out, as_version=4).cells[-1]
    first = cell.outputs[0]["data"]["text/html"]
    assert first.index(SMOKE_BANNER) < first.index("Profile smoke</b>, as <code>CLIPDISTILL_PROFILE</code>")
    assert f"Data: <code>{data}</code> (<code>CLIPDISTILL_DATA_ROOT</code>)" in first
    monkeypatch.setenv("CLIPDISTILL_PROFILE", "paper")  # the notebook's own choice wins
    src = _chapter(tmp_path / "c.ipynb", profile="smoke")
    pm.execute_notebook(str(src), str(out), cwd=str(tmp_path), progress_bar=False,
                        kernel_name="python3",
                        parameters={"profile": "smoke", "overrides": {"data_root": str(tmp_path)}})
    first = nbformat.read(out, as_version=4).cells[-1].outputs[0]["data"]["text/html"]
    assert "Profile smoke</b>, as papermill" in first and f"Data: <code>{tmp_path}</code>;" in first


def test_the_command_line_defaults_to_the_same_settings(tmp_path, monkeypatch, capsys):
    from clipdistill.cli import main

    monkeypatch.setenv("CLIPDISTILL_PROFILE", "smoke")
    monkeypatch.setenv("CLIPDISTILL_DATA_ROOT", str(tmp_path))
    assert main(["config"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["profile"], shown["data_root"]) == ("smoke", str(tmp_path.resolve()))


def test_a_smoke_figure_about_models_says_so_in_the_file(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from clipdistill.config import resolve
    from clipdistill.results import SMOKE_STAMP, save_figure

    cfg = resolve("smoke", {"results_dir": str(tmp_path)}, accelerator=False)
    fig, ax = plt.subplots(layout="constrained")  # as chapter 5 draws its figures
    ax.plot([0, 1], label="a student")
    legend = fig.legend(loc="outside lower center")  # placed under the axes at draw time
    save_figure(fig, cfg, "02_zero_shot_clip", "a")
    save_figure(fig, cfg, "02_zero_shot_clip", "a")  # saved twice, stamped once
    assert [t.get_text() for t in fig.texts] == [SMOKE_STAMP]
    fig.savefig(tmp_path / "again.png", bbox_inches="tight")  # laid out as on the page
    renderer = fig.canvas.get_renderer()
    stamp = fig.texts[0].get_window_extent(renderer)
    assert stamp.y0 >= max(a.get_window_extent(renderer).y1  # over everything, the
                           for a in [*fig.axes, legend])     # legend included
    data, _ = plt.subplots()
    save_figure(data, cfg, "01_data_prep", "b", about_models=False)
    assert not data.texts  # a picture of the data is true whatever the weights
    plt.close("all")
