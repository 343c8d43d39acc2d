"""The README and docs/ link only to what the repository has (a link to notes kept outside the
repository once pointed nowhere for every reader)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
NAMED_MD = re.compile(r"`([\w./-]+\.md)`")  # a Markdown file named in code: `docs/notes.md`


def _prose(text: str) -> str:
    """``text`` without fenced code blocks (a link-like string in code is not a link)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(document: Path) -> set[str]:
    headings = re.findall(r"^#{1,6}\s+(.*)$", _prose(document.read_text()), flags=re.M)
    return {_anchor(h) for h in headings}


def _targets(document: Path) -> list[str]:
    return LINK.findall(_prose(document.read_text()))


def _cases() -> list[tuple[str, str]]:
    return [(d.name, t) for d in DOCUMENTS for t in _targets(d) if ":" not in t.split("/")[0]]


def test_the_documents_exist_and_have_local_links():
    assert (ROOT / "docs" / "learning-notes.md").is_file()
    assert any(target.startswith("docs/") for _, target in _cases())


@pytest.mark.parametrize(("document", "target"), _cases())
def test_every_relative_link_points_at_a_file_or_heading_that_exists(document, target):
    source = next(d for d in DOCUMENTS if d.name == document)
    path, _, anchor = target.partition("#")
    linked = (source.parent / path).resolve() if path else source
    assert linked.exists(), f"{document} links to {target}, which is not in the repository"
    assert ROOT in linked.parents, f"{document} links outside the repository: {target}"
    if anchor and linked.suffix == ".md":
        assert anchor in _anchors(linked), f"{document}: no heading for #{anchor} in {linked}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.name)
def test_every_markdown_file_named_in_code_exists(document):
    for name in NAMED_MD.findall(_prose(document.read_text())):
        found = (ROOT / name).exists() or (document.parent / name).exists()
        assert found, f"{document.name} names {name}, which is not in the repository"


def test_the_anchor_rule_is_githubs():
    assert _anchor("Does the learned controller beat the baselines?") == (
        "does-the-learned-controller-beat-the-baselines"
    )
    assert _anchor("The controller (`simic`)") == "the-controller-simic"
