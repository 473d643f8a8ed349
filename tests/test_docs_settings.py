"""Every configuration key is documented in docs/, by its qualified name.

A key counts as documented when the manual names it as ``[section] key``
(backticks and line breaks aside) or as its variable ``S2P_SECTION_KEY``;
the keys of a ``[[paths]]`` rule, when a TOML example in the manual sets them.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from s2p.config import PathRuleSettings, Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def manual() -> str:
    text = "\n".join(path.read_text(encoding="utf-8") for path in sorted(DOCS.rglob("*.md")))
    return re.sub(r"\s+", " ", text.replace("`", ""))


def sections() -> dict[str, type[BaseModel]]:
    found = {}
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found[name] = field.annotation
    return found


def undocumented(text: str) -> list[str]:
    missing = []
    for section, model in sections().items():
        for key in model.model_fields:
            names = (re.escape(f"[{section}] {key}"), f"S2P_{section.upper()}_{key.upper()}")
            if not re.search(rf"(?:{'|'.join(names)})(?!\w)", text):  # [server] host is not [server] hosts
                missing.append(f"[{section}] {key}")
    return missing


def test_every_section_is_a_model_or_the_path_rules() -> None:
    # A new kind of field would escape the check below.
    assert set(Settings.model_fields) - set(sections()) == {"paths"}


def test_every_key_is_documented() -> None:
    assert undocumented(manual()) == []


def test_every_path_rule_key_is_shown_in_an_example() -> None:
    raw = "\n".join(path.read_text(encoding="utf-8") for path in sorted(DOCS.rglob("*.md")))
    assert "[[paths]]" in raw
    missing = [key for key in PathRuleSettings.model_fields if not re.search(rf"^{key} = ", raw, re.MULTILINE)]
    assert missing == []


def test_the_check_sees_a_missing_key() -> None:
    text = manual()
    section, model = next(iter(sections().items()))
    key = next(iter(model.model_fields))
    assert f"[{section}] {key}" in text  # documented, as the test above requires
    hidden = re.sub(rf"(?:{re.escape(f'[{section}] {key}')}|S2P_{section.upper()}_{key.upper()})(?!\w)", "", text)
    assert set(undocumented(hidden)) - set(undocumented(text)) == {f"[{section}] {key}"}
