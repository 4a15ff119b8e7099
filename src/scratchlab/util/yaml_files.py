"""Reading YAML files that a user wrote by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from scratchlab.errors import ConfigError


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class names it
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark)
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path, what: str) -> Any:
    """The content of a YAML file (a key given twice is an error); an unreadable or invalid one
    is a one-line `ConfigError` that starts with `what` and the path."""
    try:
        return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except FileNotFoundError:
        raise ConfigError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read ({exc.strerror}); "
                          "give a YAML file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: "
                          f"{' '.join(str(exc).split())[:300]}") from None
    except RecursionError:
        raise ConfigError(f"{what} {path} is nested too deeply to read") from None
