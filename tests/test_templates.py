"""Template sets are data: the named sets, the two user-file formats and the slot check."""

from __future__ import annotations

import json

import pytest
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

from clipdistill import templates as T


def test_named_sets_come_from_open_clip_and_all_have_one_slot():
    assert T.TEMPLATE_SETS["raw"] == ("{}",)
    assert T.TEMPLATE_SETS["standard"] == ("a photo of a {}.",)
    assert len(T.TEMPLATE_SETS["openai80"]) == 80
    assert len(T.TEMPLATE_SETS["simple7"]) == 7
    # Same sentences as open_clip's callables, in the same order.
    assert [f("dog") for f in OPENAI_IMAGENET_TEMPLATES] == [
        T.fill(t, "dog") for t in T.TEMPLATE_SETS["openai80"]
    ]
    assert [f("dog") for f in SIMPLE_IMAGENET_TEMPLATES] == [
        T.fill(t, "dog") for t in T.TEMPLATE_SETS["simple7"]
    ]
    assert "a tattoo of a {}." in T.TEMPLATE_SETS["openai80"]
    for name, templates in T.TEMPLATE_SETS.items():
        assert T.validate_templates(templates, name) == templates


def test_dataset_set_resolves_per_dataset():
    pets = T.get_template_set("dataset", "oxford_pets_37")
    assert pets.name == "pets"
    assert pets.prompts(["Abyssinian"]) == [["a photo of a Abyssinian, a type of pet."]]
    assert T.get_template_set("dataset", "cats_dogs").templates == pets.templates
    assert len(T.get_template_set("dataset", "cifar10")) == 18
    assert T.get_template_set("dataset", "mnist").prompts(["7"]) == [['a photo of the number: "7".']]
    assert T.get_template_set("dataset", "imagenet").templates == T.TEMPLATE_SETS["openai80"]
    with pytest.raises(T.TemplateError, match="needs a known dataset"):
        T.get_template_set("dataset", "no_such_dataset")


def test_prompts_fill_every_class_in_order():
    s = T.get_template_set("simple7")
    prompts = s.prompts(["cat", "dog"])
    assert len(prompts) == 2 and all(len(p) == 7 for p in prompts)
    assert prompts[1][0] == "itap of a dog."
    # Braces in a class name are kept literally (no str.format surprises).
    assert T.fill("a photo of a {}.", "{weird}") == "a photo of a {weird}."


def test_txt_file_one_template_a_line(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("# my prompts\na photo of a {}.\n\n  a drawing of a {}.  \n")
    s = T.load_template_file(f)
    assert s.name == "mine"
    assert s.templates == ("a photo of a {}.", "a drawing of a {}.")
    assert T.get_template_set(str(f)).templates == s.templates


def test_json_file_cupl_per_class_sentences(tmp_path):
    f = tmp_path / "cupl.json"
    f.write_text(json.dumps({
        "cat": ["A cat has pointed ears.", "A small furry feline."],
        "golden_retriever": "A golden dog with a feathered tail.",
    }))
    s = T.get_template_set(str(f))
    assert s.is_per_class
    assert s.prompts(["Golden retriever", "cat"]) == [
        ["A golden dog with a feathered tail."],
        ["A cat has pointed ears.", "A small furry feline."],
    ]
    with pytest.raises(T.TemplateError, match="no sentences for 1 of 2 classes: 'dog'"):
        s.prompts(["cat", "dog"])


def test_json_list_of_templates(tmp_path):
    f = tmp_path / "list.json"
    f.write_text(json.dumps(["a {}.", "the {}."]))
    assert T.load_template_file(f).templates == ("a {}.", "the {}.")


def test_fingerprint_follows_content_not_name(tmp_path):
    f = tmp_path / "std.txt"
    f.write_text("a photo of a {}.\n")
    assert T.load_template_file(f).fingerprint() == T.get_template_set("standard").fingerprint()
    assert T.get_template_set("raw").fingerprint() != T.get_template_set("standard").fingerprint()


@pytest.mark.parametrize("bad", ["a photo of a cat.", "a {} and a {}.", "a photo of a {0}.", "{name}"])
def test_template_without_a_single_slot_is_a_clear_error(tmp_path, bad):
    with pytest.raises(T.TemplateError, match="slot"):
        T.validate_template(bad)
    f = tmp_path / "bad.txt"
    f.write_text(f"a photo of a {{}}.\n{bad}\n")
    with pytest.raises(T.TemplateError, match=r"bad\.txt.*entry 2"):
        T.load_template_file(f)


def test_bad_files_and_names_fail_with_one_sentence(tmp_path):
    with pytest.raises(T.TemplateError, match="does not exist"):
        T.get_template_set(str(tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    with pytest.raises(T.TemplateError, match="has no templates"):
        T.load_template_file(empty)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(T.TemplateError, match="not valid JSON"):
        T.load_template_file(broken)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"cat": []}))
    with pytest.raises(T.TemplateError, match="non-empty list"):
        T.load_template_file(wrong)
    with pytest.raises(T.TemplateError, match="did you mean openai80"):
        T.get_template_set("openai8")
    with pytest.raises(T.TemplateError, match="is empty"):
        T.TemplateSet("none", ())
