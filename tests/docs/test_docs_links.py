"""The docs' links and test references are claims: every one must point at something that exists.

Fast and without the stack: reads README.md and docs/*.md, checks every relative Markdown link against the
file system, and every `tests/<path>.py::<name>` reference against the test file's syntax tree (functions,
and methods of `Test…` classes), so a renamed or deleted test cannot leave a doc pointing at nothing.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# [text](target) and ![alt](target); the target ends at whitespace or ")" (a title after a space is ignored).
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
# tests/<dir>/<file>.py::<name>[::<name>][<parameters>]
TEST_REF = re.compile(r"\btests/[\w./-]+?\.py::[\w:]+(?:\[[^\]\s`]*\])?")
# A test file named without `::`: it must exist too.
TEST_FILE = re.compile(r"\btests/[\w./-]+?\.py\b")
EXTERNAL = ("http://", "https://", "mailto:", "ftp://")


def relative_links(doc: Path) -> list[str]:
    """Every link target in `doc` that is a path in this repository (no scheme, not a bare #anchor)."""
    targets = []
    in_fence = False
    for line in doc.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        for target in LINK.findall(line):
            if target.startswith(EXTERNAL) or target.startswith("#"):
                continue
            targets.append(target)
    return targets


@cache
def defined_tests(path: Path) -> frozenset[str]:
    """`name` for every module-level function and `Class::name` for every method in a test file."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names.add(node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}::{item.name}")
    return frozenset(names)


def split_test_ref(ref: str) -> tuple[str, str]:
    """(`tests/…py`, `name` or `Class::name`) of a reference, its `[parameters]` stripped."""
    path, _, name = ref.partition("::")
    return path, re.sub(r"\[.*\]$", "", name).rstrip(":")


def test_every_relative_link_in_the_readme_and_docs_points_at_an_existing_file() -> None:
    broken = []
    for doc in DOCS:
        for target in relative_links(doc):
            path = target.split("#", 1)[0].split("?", 1)[0]
            if path and not (doc.parent / path).exists():
                broken.append(f"{doc.relative_to(REPO)}: {target}")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_every_test_reference_in_the_docs_names_an_existing_test_function() -> None:
    broken = []
    seen = 0
    for doc in DOCS:
        for ref in sorted(set(TEST_REF.findall(doc.read_text()))):
            seen += 1
            path, name = split_test_ref(ref)
            file = REPO / path
            if not file.is_file():
                broken.append(f"{doc.relative_to(REPO)}: {ref} (no such file)")
            elif name not in defined_tests(file):
                broken.append(f"{doc.relative_to(REPO)}: {ref} (no such test in {path})")
    assert seen > 0, "the pattern found no test reference at all: it no longer matches how the docs write them"
    assert not broken, "test references to nothing:\n" + "\n".join(broken)


def test_every_test_file_the_docs_name_exists() -> None:
    broken = []
    for doc in DOCS:
        for path in sorted(set(TEST_FILE.findall(doc.read_text()))):
            if not (REPO / path).is_file():
                broken.append(f"{doc.relative_to(REPO)}: {path}")
    assert not broken, "test files that do not exist:\n" + "\n".join(broken)


def test_the_checks_catch_a_broken_link_a_missing_test_and_strip_parameters(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text(
        "see [a](missing.md#part), [b](https://example.com), [c](#here)\n```\n[not a link](inside-a-fence.md)\n```\n"
    )
    assert relative_links(doc) == ["missing.md#part"]
    test_file = tmp_path / "test_x.py"
    test_file.write_text("def test_a():\n    pass\n\nclass TestB:\n    async def test_c(self):\n        pass\n")
    assert "test_a" in defined_tests(test_file)
    assert "TestB::test_c" in defined_tests(test_file)
    assert "test_missing" not in defined_tests(test_file)
    assert split_test_ref("tests/x/test_x.py::test_a[case-1]") == ("tests/x/test_x.py", "test_a")
    assert split_test_ref("tests/x/test_x.py::TestB::test_c") == ("tests/x/test_x.py", "TestB::test_c")
    assert TEST_REF.findall("`tests/x/test_x.py::test_a[1-2]`, and tests/y.py::test_b.") == [
        "tests/x/test_x.py::test_a[1-2]",
        "tests/y.py::test_b",
    ]
