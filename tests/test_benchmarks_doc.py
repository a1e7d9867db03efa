"""scripts/benchmarks.py: each script rewrites only its own section of docs/benchmarks.md."""

from __future__ import annotations

from scripts.benchmarks import DOC_INTRO, machine, write_section


def test_a_section_replaces_only_its_own_block(tmp_path):
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "# Benchmarks\n\n<!-- a:start -->\nold a\n<!-- a:end -->\n\nnotes on a, by hand\n\n"
        "<!-- b:start -->\nold b\n<!-- b:end -->\n"
    )
    write_section("a", "## A\n\nnew a\n", doc)
    assert doc.read_text() == (
        "# Benchmarks\n\n<!-- a:start -->\n## A\n\nnew a\n<!-- a:end -->\n\nnotes on a, by hand\n\n"
        "<!-- b:start -->\nold b\n<!-- b:end -->\n"
    )


def test_a_new_section_is_appended_and_a_missing_doc_gets_the_intro(tmp_path):
    doc = tmp_path / "docs" / "benchmarks.md"
    write_section("a", "first", doc)
    write_section("b", "second", doc)
    write_section("a", "first again", doc)
    assert doc.read_text() == (
        DOC_INTRO + "\n<!-- a:start -->\nfirst again\n<!-- a:end -->\n\n<!-- b:start -->\nsecond\n<!-- b:end -->\n"
    )


def test_the_machine_description_names_what_a_reader_needs():
    info = machine(opencv="5.0.0")
    assert {"cpu", "cores", "python", "date", "load", "opencv"} <= info.keys()
    assert info["opencv"] == "5.0.0" and " usable of " in info["cores"] and info["date"].endswith("UTC")
