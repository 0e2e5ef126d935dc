"""The docs state each figure in one place: the README is the source of measured figures, and what another doc
repeats (the audit's transcript) must agree with it; the transcripts show the ops as they are registered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from microreg import registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
# a measured figure: a number with a unit of time, size or speed-up
FIGURE = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?) ?(µs|ms|s|B|KB|MB|GB|×)(?!\w)")


def prose(text: str) -> str:
    """text without its code: fenced blocks and inline code spans."""
    return re.sub(r"`[^`\n]*`", "", re.sub(r"```.*?```", "", text, flags=re.S))


def transcript(text: str) -> list[str]:
    """The lines of the first code block that shows `$ microreg audit`."""
    block = re.search(r"```\w*\n\$ microreg audit\n(.*?)```", text, flags=re.S)
    assert block, "no `$ microreg audit` transcript"
    return block.group(1).splitlines()


def rows(lines: list[str]) -> dict[str, list[str]]:
    """The table rows of an audit transcript, by op: [op, plugin version, verdict, inputs, kinks, seconds]."""
    table = [re.split(r"\s{2,}", line) for line in lines]
    return {r[0]: r for r in table if len(r) == 6 and r[0] not in ("op",) and not r[0].startswith("-")}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_a_doc_states_no_measured_figure_but_the_readmes(doc):
    readme = prose((ROOT / "README.md").read_text())
    stated = {f"{n} {u}" for n, u in FIGURE.findall(readme)}
    extra = [f"{n} {u}" for n, u in FIGURE.findall(prose(doc.read_text())) if f"{n} {u}" not in stated]
    assert extra == [], f"{doc.name} states figures the README does not: {extra}; link to the README's instead"


def test_the_audit_transcripts_of_the_readme_and_the_audit_guide_agree():
    readme, guide = (transcript((ROOT / path).read_text()) for path in ("README.md", "docs/audit.md"))
    assert [line for line in readme if line in guide or line == "..."] == readme
    for line in guide:  # progress lines name the seconds of the op's row
        if m := re.fullmatch(r"audit: (\w+) (\w+) \(([\d.]+) s\)", line):
            assert rows(guide)[m.group(1)][2::3] == [m.group(2), m.group(3)], line


@pytest.mark.parametrize("path", ["README.md", "docs/audit.md"])
def test_the_audit_transcript_shows_the_registered_ops(path):
    registry.load()
    if "activations" not in registry.plugins:
        pytest.skip("the example plugin, whose ops the transcript shows, is not installed")
    lines = transcript((ROOT / path).read_text())
    for op, (_, plugin, verdict, inputs, _, _) in rows(lines).items():
        origin = registry.origin(op)
        assert plugin == f"{origin.name} {origin.version}" and verdict == "proved"
        assert inputs == ", ".join(f"{name} proved" for name in registry.get(op).inputs)
    shown = {p: len(registry.plugins[p].ops) for p in ("microreg_ops", "activations")}
    assert re.search(rf"^{sum(shown.values())} op\(s\) audited in ", "\n".join(lines), flags=re.M), (
        f"{path}: the transcript's count is not the {sum(shown.values())} ops of {shown}: run `microreg audit` and copy "
        "the rows shown and the summary line into README.md and docs/audit.md")
