"""Category mappings: the TACO 7-class table against the real TACO categories, and user YAML."""

from __future__ import annotations

import json

import pytest
import yaml

from scratchlab.detect.mappings import (
    TACO7,
    TACO7_BY_NAME,
    TACO7_BY_SUPERCATEGORY,
    TACO7_CLASSES,
    load_mapping_yaml,
    mapping_table,
    resolve_mapping,
)
from scratchlab.errors import ConfigError


@pytest.fixture(scope="module")
def taco_categories(taco_annotations):
    return json.loads(taco_annotations.read_text())["categories"]


def test_taco7_maps_every_real_category_to_one_of_seven_classes(taco_categories):
    assert len(taco_categories) == 60
    table = mapping_table(TACO7, taco_categories)
    targets = [t for _, _, t in table]
    assert None not in targets
    assert set(targets) == set(TACO7_CLASSES)  # all seven classes are used
    assert len(TACO7_CLASSES) == 7


def test_taco7_table_is_derived_from_the_real_names(taco_categories):
    supers = {c["supercategory"] for c in taco_categories}
    names = {c["name"]: c["supercategory"] for c in taco_categories}
    assert set(TACO7_BY_SUPERCATEGORY) == supers  # one rule per TACO super-category
    # overrides name real categories and change something
    for name, target in TACO7_BY_NAME.items():
        assert name in names
        assert TACO7_BY_SUPERCATEGORY[names[name]] != target


@pytest.mark.parametrize(
    ("name", "supercategory", "target"),
    [
        ("Glass bottle", "Bottle", "glass"),
        ("Clear plastic bottle", "Bottle", "metals_and_plastic"),
        ("Food waste", "Food waste", "bio"),
        ("Normal paper", "Paper", "paper"),
        ("Tissues", "Paper", "non_recyclable"),
        ("Battery", "Battery", "other"),
        ("Unlabeled litter", "Unlabeled litter", "unknown"),
    ],
)
def test_taco7_examples(name, supercategory, target):
    assert TACO7.target(name, supercategory) == target


def test_yaml_mapping_by_name_or_supercategory(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        yaml.safe_dump(
            {"glass": ["Glass bottle", "Glass jar"], "plastic": ["Bottle"]}, sort_keys=False
        )
    )
    mapping = load_mapping_yaml(path)
    assert mapping.classes == ("glass", "plastic")
    assert mapping.target("Glass bottle", "Bottle") == "glass"  # name wins over super-category
    assert mapping.target("Clear plastic bottle", "Bottle") == "plastic"
    assert mapping.target("Shoe", "Shoe") is None
    assert resolve_mapping(str(path), []).classes == ("glass", "plastic")


def test_bad_mappings_are_config_errors(tmp_path):
    twice = tmp_path / "twice.yaml"
    twice.write_text(yaml.safe_dump({"a": ["Shoe"], "b": ["Shoe"]}))
    with pytest.raises(ConfigError, match="two classes"):
        load_mapping_yaml(twice)
    flat = tmp_path / "flat.yaml"
    flat.write_text("just text")
    with pytest.raises(ConfigError, match="list of COCO names"):
        load_mapping_yaml(flat)
    with pytest.raises(ConfigError, match="taco7"):
        resolve_mapping("no-such-file.yaml", [])
    broken = tmp_path / "broken.yaml"
    broken.write_text("glass: [Glass bottle\n")
    with pytest.raises(ConfigError, match=r"^mapping .*broken.yaml is not valid YAML"):
        load_mapping_yaml(broken)
    given_twice = tmp_path / "given_twice.yaml"
    given_twice.write_text("glass: [Glass jar]\nglass: [Glass bottle]\n")
    with pytest.raises(ConfigError, match="'glass' is given twice"):
        load_mapping_yaml(given_twice)


def test_identity_mapping_keeps_categories_in_id_order():
    cats = [{"id": 5, "name": "b"}, {"id": 2, "name": "a"}]
    mapping = resolve_mapping(None, cats)
    assert mapping.classes == ("a", "b") and mapping.target("b") == "b"
    with pytest.raises(ConfigError, match="not unique"):
        resolve_mapping("none", [{"id": 1, "name": "x"}, {"id": 2, "name": "x"}])
