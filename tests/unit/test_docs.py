"""Docs that stay true: every relative link and anchor of README and docs/ resolves, every reference to a section of
docs/method.md names one that exists, and every command they show composes (Hydra's compose API, no job run)."""
import re
import shlex
import subprocess

import pytest
from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from helpers.paths import CONF_DIR, ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = [p for folder in ("src", "conf", "tests", "bench", "docs") for p in sorted((ROOT / folder).rglob("*"))
           if p.suffix in (".py", ".yaml", ".md") and "egg-info" not in str(p)] + [ROOT / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
INLINE = re.compile(r"(?<!`)`([^`]+)`(?!`)")
ENTRIES = {"src/main.py": "config", "src/compare.py": "comparison"}
COMMAND = re.compile(r"^(\w+=\S+\s+)*(python|deepspeed|torchrun)\b.*\bsrc/(main|compare)\.py\b")


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path) -> set[str]:
    text = FENCE.sub("", path.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.*)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(doc):
    for target in LINK.findall(FENCE.sub("", doc.read_text())):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        assert resolved.exists(), f"{doc.name}: {target} does not exist"
        if anchor:
            assert anchor in anchors(resolved), f"{doc.name}: {target}: no such heading in {resolved.name}"


def test_every_method_reference_names_a_section():
    sections = {m.group(1).strip() for m in re.finditer(r"^#+ (.*)$", (ROOT / "docs" / "method.md").read_text(), re.M)}
    for path in SOURCES:
        for match in re.finditer(r"""docs/method\.md,((?:\s*(?:"[^"]+"|'[^']+'),?)+)""", path.read_text()):
            for name in re.findall(r"""["']([^"']+)["']""", match.group(1)):
                assert name in sections, f"{path.relative_to(ROOT)}: docs/method.md has no section {name!r}"
    assert not [p for p in SOURCES if re.search(r"method\.md\s+sections?\s+\d", p.read_text())]


def _commands(text: str) -> list[str]:
    """Every command of a document: fenced blocks (lines joined at ``\\``, comments dropped) and inline code."""
    found = []
    for block in FENCE.findall(text):
        for line in block.replace("\\\n", " ").splitlines():
            found.append(re.sub(r"\s+#.*$", "", line).strip())
    found += [" ".join(span.split()) for span in INLINE.findall(FENCE.sub("", text))]
    return [c for c in found if COMMAND.match(c) or re.match(r"make [a-z]", c)]


def _compose(entry: str, arguments: list[str]) -> int:
    """Compose every job of ``arguments`` (a sweep is split into its jobs); returns how many."""
    arguments = [a for a in arguments if a not in ("-m", "--multirun", "...")]
    jobs = [job for batch in BasicSweeper.split_arguments(OverridesParser.create().parse_overrides(arguments), None)
            for job in batch]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for job in jobs:
            compose(ENTRIES[entry], overrides=list(job), return_hydra_config=True)
    return len(jobs)


def _make_commands(command: str) -> list[str]:
    """The commands a ``make`` target runs (its recipe, expanded by ``make -n``); the target must exist."""
    words = command.split()
    dry = subprocess.run(["make", "-n", *[w for w in words[1:] if w != "make"]], capture_output=True, text=True, cwd=ROOT)
    assert dry.returncode == 0, f"{command}: {dry.stderr.strip()}"
    return [line for line in dry.stdout.replace("\\\n", " ").splitlines() if COMMAND.match(line.strip())]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_command_composes(doc):
    composed = 0
    for command in _commands(doc.read_text()):
        for line in _make_commands(command) if command.startswith("make ") else [command]:
            tokens = shlex.split(line)
            entry = next(i for i, t in enumerate(tokens) if t.endswith(tuple(ENTRIES)))
            composed += _compose(next(e for e in ENTRIES if tokens[entry].endswith(e)), tokens[entry + 1:])
    if doc.name in ("README.md", "corpora.md", "models.md", "measures.md", "clusters.md"):
        assert composed >= 3, f"{doc.name}: only {composed} commands found"
