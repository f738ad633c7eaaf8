"""Pinned weights: every profile's hub repository at a commit, the provenance of what loaded.

The hub is clipdistill.offline.hub_server, which serves every commit a repo has had: a
second folder added under the same id is a re-upload, the new ``main``. The loaders here
are the real ones (transformers for the VLM; open_clip's is covered against the same
stand-in in test_first_contact.py, at the real ViT-B-32's size).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from clipdistill.offline.hub_server import HubStandIn
from clipdistill.offline.tiny_smolvlm import TINY_RECIPE, build_tiny_smolvlm, write_smolvlm

from clipdistill import hub, pins, weights
from clipdistill.cli import main
from clipdistill.config import ConfigError, parse_overrides, resolve
from clipdistill.vlm import make_describer

SMOLVLM = "HuggingFaceTB/SmolVLM-256M-Instruct"


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_repository_a_profile_downloads_is_in_the_pin_table():
    table = pins.table()
    for profile in ("quick", "paper"):
        for gpu in (True, False):
            cfg = resolve(profile, accelerator=gpu)
            missing = set(hub.profile_repos(cfg)) - set(table)
            assert not missing, f"{profile} (gpu={gpu}) downloads unpinned {sorted(missing)}"
    assert all(rev is None or pins.is_commit(rev) for rev in table.values())
    assert "timm/ViT-B-16-SigLIP" in hub.profile_repos(resolve("paper", accelerator=True))  # a tokenizer
    assert hub.profile_repos(resolve("smoke", accelerator=False)) == []  # random weights: no hub


def test_the_config_chooses_pinned_newest_or_named_revisions():
    repo = "openai/clip-vit-base-patch32"
    pinned = pins.table()[repo]
    assert pins.revision(repo) == pinned == pins.revision(repo, resolve("quick", accelerator=False))
    newest = resolve("quick", parse_overrides(["pin_weights=false"]), accelerator=False)
    assert pins.revision(repo, newest) == "main"
    named = resolve("quick", parse_overrides(['hub_revisions={"%s": "v1.0"}' % repo]),
                    accelerator=False)
    assert pins.revision(repo, named) == "v1.0" and pins.revision("timm/ViT-B-16-SigLIP", named) != "main"
    assert pins.revision("someone/unknown") == "main"  # a reader's own model: the provenance says which
    assert [w.revision for w in hub.profile_weights(resolve("quick", accelerator=False))] == \
        [pins.table()[w.repo_id] for w in hub.profile_weights(resolve("quick", accelerator=False))]
    with pytest.raises(ConfigError, match="pin_weights"):
        parse_overrides(["pin_weights=maybe"])


def test_the_stand_in_serves_every_commit_a_repo_has_had(tmp_path, hub_env):
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RevisionNotFoundError

    old, new = tmp_path / "old", tmp_path / "new"
    for folder, text in ((old, "1"), (new, "2")):
        folder.mkdir()
        (folder / "config.json").write_text(text)
    with HubStandIn({"org/m": old}) as stand_in:
        hub_env(stand_in.url)
        first = stand_in.repos["org/m"].commit
        second = stand_in.add("org/m", new)
        assert first != second and stand_in.repos["org/m"].commit == second
        read = {rev: open(hf_hub_download("org/m", "config.json", revision=rev)).read()
                for rev in (first, second, "main")}
        assert read == {first: "1", second: "2", "main": "2"}
        with pytest.raises(RevisionNotFoundError):
            hf_hub_download("org/m", "config.json", revision="0" * 40)
        assert hub.commit(hub.transformers_weights("org/m"), cache_only=False) == second
    assert hub.commit(hub.transformers_weights("org/m"), cache_only=True) == second  # refs/main


@pytest.fixture()
def two_uploads(tmp_path):
    """SmolVLM's repo as uploaded twice: the same architecture, other weights."""
    first = build_tiny_smolvlm(tmp_path / "v1")
    second = write_smolvlm(tmp_path / "v2", TINY_RECIPE, seed=1)
    return first, second


def _load(cfg) -> dict:
    weights.forget()
    describer = make_describer(cfg)
    describer.load()
    (entry,) = weights.loaded()
    return {**entry, "key": describer.key}


def test_a_pinned_run_ignores_a_newer_main_and_the_provenance_follows_the_commit(
        two_uploads, hub_env):
    first, second = two_uploads
    with HubStandIn({SMOLVLM: first}) as stand_in:
        hub_env(stand_in.url)
        v1 = stand_in.repos[SMOLVLM].commit
        v2 = stand_in.add(SMOLVLM, second)  # a re-upload: main moves on
        pinned = resolve("quick", {"hub_revisions": {SMOLVLM: v1}}, accelerator=False)
        newest = resolve("quick", {"pin_weights": False}, accelerator=False)

        old = _load(pinned)
        assert not any("/resolve/main/" in p for _, p in stand_in.requests)  # main never asked
        assert (old["repo"], old["revision"], old["commit"], old["pinned"]) == (SMOLVLM, v1, v1, True)
        assert old["files"] == [{"file": "model.safetensors", "bytes": (first / "model.safetensors").stat().st_size,
                                 "sha256": _sha256(first / "model.safetensors")}]

        new = _load(newest)
        assert (new["revision"], new["commit"], new["pinned"]) == ("main", v2, False)
        assert new["files"][0]["sha256"] == _sha256(second / "model.safetensors") != old["files"][0]["sha256"]
        assert new["key"] != old["key"]  # descriptions from other weights are other cache entries

        repinned = _load(resolve("quick", {"hub_revisions": {SMOLVLM: v2}}, accelerator=False))
        assert (repinned["commit"], repinned["files"]) == (v2, new["files"])
    assert v1 in old["key"] and v2 in new["key"]


def test_a_pin_the_hub_does_not_have_fails_in_one_sentence(two_uploads, hub_env):
    with HubStandIn({SMOLVLM: two_uploads[0]}) as stand_in:
        hub_env(stand_in.url)
        cfg = resolve("quick", {"hub_revisions": {SMOLVLM: "f" * 40}}, accelerator=False)
        with pytest.raises(hub.HubUnavailable, match=r"has no revision f{40} .*clipdistill pin --write"):
            make_describer(cfg).load()


def test_pin_prints_the_newest_commits_and_writes_them(tmp_path, hub_env, monkeypatch, capsys,
                                                        two_uploads):
    table = tmp_path / "pins.json"
    table.write_text(json.dumps({"about": "kept", "revisions": {SMOLVLM: "a" * 40}}))
    monkeypatch.setattr(pins, "PINS_FILE", table)
    monkeypatch.setattr(hub, "profile_repos", lambda cfg: [SMOLVLM])
    with HubStandIn({SMOLVLM: two_uploads[0]}) as stand_in:
        hub_env(stand_in.url)
        commit = stand_in.repos[SMOLVLM].commit
        assert main(["pin"]) == 0
        out = capsys.readouterr().out
        assert f"{SMOLVLM}" in out and commit in out and "a" * 40 in out
        assert pins.table(table)[SMOLVLM] == "a" * 40  # printing changes nothing
        assert main(["pin", "--write"]) == 0
    written = json.loads(table.read_text())
    assert written == {"about": "kept", "revisions": {SMOLVLM: commit}}


def test_an_open_clip_tag_is_fetched_at_its_commit_with_open_clips_fallback(tmp_path, hub_env,
                                                                             monkeypatch):
    """The file open_clip would take (.safetensors first, else .bin), at the pinned commit,
    from the cache alone once it is there. (Loading the real shapes: test_first_contact.)"""
    from huggingface_hub import constants

    repo = tmp_path / "rn50"
    repo.mkdir()
    (repo / "open_clip_pytorch_model.bin").write_bytes(b"weights of the first upload")
    w = hub.clip_weights("RN50", "openai")
    with HubStandIn({w.repo_id: repo}) as stand_in:
        hub_env(stand_in.url)
        commit = stand_in.repos[w.repo_id].commit
        cfg = resolve("quick", {"hub_revisions": {w.repo_id: commit}}, accelerator=False)
        wanted, resolved, cache_only = weights.prepare(w, cfg)
        assert (wanted.revision, resolved, cache_only) == (commit, commit, False)
        fetched = weights.fetch(wanted, resolved, cache_only)
        assert list(fetched) == ["open_clip_pytorch_model.bin"]
        assert f"/{w.repo_id}/resolve/{commit}/open_clip_model.safetensors" in \
            [p for _, p in stand_in.requests]  # asked first, as open_clip does
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    again = weights.fetch(*weights.prepare(w, cfg))
    assert again == fetched
    weights.forget()
    entry = weights.record(wanted.label, w.repo_id, commit, commit, fetched)
    assert entry["files"] == [{"file": "open_clip_pytorch_model.bin", "bytes": 27,
                               "sha256": _sha256(repo / "open_clip_pytorch_model.bin")}]
    assert weights.loaded() == [entry] and entry["pinned"]


def test_a_cached_weight_file_that_lost_bytes_is_named_in_the_provenance(tmp_path):
    """The cache names an LFS blob after the hub's SHA-256: a file that no longer hashes to
    its name is damaged, and the record and a warning say so."""
    data = b"the weights as the hub has them"
    blob = tmp_path / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir()
    blob.write_bytes(data[:-4])  # a download cut short, or a disk error
    link = tmp_path / "snapshots" / "c0ffee" / "model.safetensors"
    link.parent.mkdir(parents=True)
    link.symlink_to(blob)
    with pytest.warns(UserWarning, match="does not match the hub's checksum: delete it"):
        entry = weights.record("m", "org/m", "main", "c0ffee", {"model.safetensors": link})
    assert entry["files"][0]["damaged"] == f"the hub's SHA-256 is {blob.name}"
    blob.write_bytes(data)
    whole = weights.record("m", "org/m", "main", "c0ffee", {"model.safetensors": link})
    assert "damaged" not in whole["files"][0] and whole["files"][0]["sha256"] == blob.name
