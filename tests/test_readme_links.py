"""The README's in-page links (the contents line, "see [Cameras](#cameras)") land on a heading.

A renamed section otherwise leaves links that silently go nowhere on the rendered page.
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _github_anchor(heading: str) -> str:
    # GitHub's slug: lower case, punctuation dropped (hyphens and underscores kept), spaces
    # become hyphens: "Alignment (day reference → night frame)" becomes
    # "alignment-day-reference--night-frame"
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        m = None if in_code else re.match(r"#{1,6} (.+)", line)
        if m:
            base = _github_anchor(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def test_every_in_page_link_of_the_readme_names_a_heading():
    text = README.read_text(encoding="utf-8")
    links = re.findall(r"\]\(#([^)\s]+)\)", text)
    assert len(links) >= 15, "the contents line alone links every section"
    missing = sorted(set(links) - _anchors(text))
    assert not missing, f"README links to headings that do not exist: {missing}"


def test_the_contents_line_lists_every_section_in_order():
    text = README.read_text(encoding="utf-8")
    contents = next(line for line in text.splitlines() if line.startswith("**Contents:**"))
    listed = re.findall(r"\]\(#([^)\s]+)\)", contents)
    sections = [_github_anchor(line[3:]) for line in text.splitlines() if line.startswith("## ")]
    assert listed == sections
