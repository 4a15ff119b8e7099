"""Category re-mappings for COCO -> YOLO conversion: the built-in TACO 7-class table and user YAML.

A mapping turns a COCO category (its name and super-category) into a target class name, or None
to drop its boxes. The TACO 7-class table groups TACO's 60 categories by how the waste is sorted:
``bio, glass, metals_and_plastic, non_recyclable, other, paper, unknown``. Each TACO
super-category has one target; the categories listed in ``TACO7_BY_NAME`` differ from their
super-category's and override it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from scratchlab.errors import ConfigError
from scratchlab.util.yaml_files import read_yaml

TACO7_CLASSES = (
    "bio",
    "glass",
    "metals_and_plastic",
    "non_recyclable",
    "other",
    "paper",
    "unknown",
)

TACO7_BY_SUPERCATEGORY: dict[str, str] = {
    "Aluminium foil": "metals_and_plastic",
    "Battery": "other",
    "Blister pack": "non_recyclable",
    "Bottle": "metals_and_plastic",
    "Bottle cap": "metals_and_plastic",
    "Broken glass": "glass",
    "Can": "metals_and_plastic",
    "Carton": "paper",
    "Cigarette": "non_recyclable",
    "Cup": "non_recyclable",
    "Food waste": "bio",
    "Glass jar": "glass",
    "Lid": "metals_and_plastic",
    "Other plastic": "metals_and_plastic",
    "Paper": "non_recyclable",
    "Paper bag": "paper",
    "Plastic bag & wrapper": "metals_and_plastic",
    "Plastic container": "metals_and_plastic",
    "Plastic glooves": "metals_and_plastic",
    "Plastic utensils": "metals_and_plastic",
    "Pop tab": "metals_and_plastic",
    "Rope & strings": "non_recyclable",
    "Scrap metal": "metals_and_plastic",
    "Shoe": "non_recyclable",
    "Squeezable tube": "non_recyclable",
    "Straw": "metals_and_plastic",
    "Styrofoam piece": "non_recyclable",
    "Unlabeled litter": "unknown",
}

TACO7_BY_NAME: dict[str, str] = {
    "Glass bottle": "glass",
    "Drink carton": "metals_and_plastic",
    "Meal carton": "non_recyclable",
    "Pizza box": "non_recyclable",
    "Disposable plastic cup": "metals_and_plastic",
    "Other plastic cup": "metals_and_plastic",
    "Normal paper": "paper",
    "Plastified paper bag": "non_recyclable",
    "Garbage bag": "non_recyclable",
    "Other plastic wrapper": "non_recyclable",
    "Crisp packet": "non_recyclable",
    "Foam food container": "non_recyclable",
    "Paper straw": "non_recyclable",
}


@dataclass(frozen=True)
class CategoryMapping:
    """Target classes (in output order) and the rules that send COCO categories to them.

    `by_name` is looked up first (COCO category name), then `by_supercategory`; a category
    matching neither is unmapped and its boxes are dropped.
    """

    classes: tuple[str, ...]
    by_name: Mapping[str, str]
    by_supercategory: Mapping[str, str]

    def target(self, name: str, supercategory: str | None = None) -> str | None:
        """The target class of a COCO category, or None when it is not mapped."""
        if name in self.by_name:
            return self.by_name[name]
        return self.by_supercategory.get(supercategory or "")


TACO7 = CategoryMapping(TACO7_CLASSES, TACO7_BY_NAME, TACO7_BY_SUPERCATEGORY)


def identity_mapping(categories: list[dict]) -> CategoryMapping:
    """Keep every COCO category as its own class, in order of category id."""
    names = [c["name"] for c in sorted(categories, key=lambda c: c["id"])]
    if len(set(names)) != len(names):
        raise ConfigError(
            "COCO category names are not unique; pass --mapping FILE.yaml to merge them"
        )
    return CategoryMapping(tuple(names), {n: n for n in names}, {})


def load_mapping_yaml(path: str | Path) -> CategoryMapping:
    """Read a user mapping: ``{target_class: [COCO category or super-category names, ...]}``.

    Class order in the file is the output order. A listed name that is a category name matches
    that category; otherwise it matches every category of that super-category.
    """
    doc = read_yaml(path, "mapping")
    if not isinstance(doc, dict) or not doc or not all(isinstance(v, list) for v in doc.values()):
        raise ConfigError(f"mapping {path} must map each target class to a list of COCO names")
    rules: dict[str, str] = {}
    for target, sources in doc.items():
        for source in sources:
            if str(source) in rules:
                raise ConfigError(f"mapping {path}: {source!r} is listed under two classes")
            rules[str(source)] = str(target)
    return CategoryMapping(tuple(str(t) for t in doc), rules, rules)


def resolve_mapping(spec: str | None, categories: list[dict]) -> CategoryMapping:
    """`None`/``none`` -> identity, ``taco7`` -> `TACO7`, otherwise a YAML file path."""
    if spec is None or spec.lower() == "none":
        return identity_mapping(categories)
    if spec.lower() == "taco7":
        return TACO7
    if not Path(spec).is_file():
        raise ConfigError(f"mapping {spec!r} is neither 'taco7', 'none' nor an existing YAML file")
    return load_mapping_yaml(spec)


def mapping_table(
    mapping: CategoryMapping, categories: list[dict]
) -> list[tuple[str, str, str | None]]:
    """(super-category, category, target) for every COCO category, in id order."""
    cats = sorted(categories, key=lambda c: c["id"])
    return [
        (c.get("supercategory", ""), c["name"], mapping.target(c["name"], c.get("supercategory")))
        for c in cats
    ]
