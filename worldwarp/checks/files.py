"""Files read strictly and outputs checked before any work: what a parser would accept but a person cannot have
meant (bytes that are not UTF-8, a YAML key given twice) is refused with the file and line, never guessed."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from .errors import InputFileError, UserError


def check_writable(root: Path) -> None:
    """``root`` exists (made if need be) and a file can be created in it."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root):
            pass
    except OSError as e:
        raise UserError(f"output directory {root} is not writable ({e.strerror or type(e).__name__}); "
                        "choose another folder") from None


def check_output_suffix(path: Path, allowed: tuple[str, ...], what: str) -> None:
    """An output file's extension is one this command can write (checked before any work is done)."""
    if path.suffix.lower() not in allowed:
        raise UserError(f"{path}: cannot write a {what} as {path.suffix or 'a file without extension'}; "
                        f"use one of {', '.join(allowed)}")


def read_text_file(path: Path) -> str:
    """A text file's content, UTF-8 only: another encoding is refused naming the line, not read as mojibake."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InputFileError(f"{path}: not UTF-8 text (line {line}, byte {e.start}: {data[e.start:e.start + 1]!r}); "
                             "save it as UTF-8") from None


class _StrictLoader(yaml.SafeLoader):
    """safe_load, but a key given twice in one mapping is an error (PyYAML keeps the last one silently)."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue  # merge keys (<<) and complex keys: left to construct_mapping's own checks
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice (lines {seen[key] + 1} and {key_node.start_mark.line + 1})",
                key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def read_yaml_text(text: str, name: str) -> Any:
    """YAML with duplicate keys refused; errors name ``name`` and the line."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        what = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise InputFileError(f"{name} is not valid YAML{where}: {what}") from None


def read_json_file(path: Path) -> Any:
    """A JSON file (UTF-8), or one line naming the file, line and column of what is wrong."""
    text = read_text_file(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputFileError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                             "write it again (rerun the command that made it)") from None
