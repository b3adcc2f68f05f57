"""The examples' pages: one page per example, an index with one line per example.

Adding an example is one file: ``docs/examples/NAME.rst`` beside ``examples/NAME.py``
(copy a page; CONTRIBUTING.md says how). Each page holds, in order: what the example
shows and how to run it (its docstring, ``.. moduledoc::``), its output, then its code.

* ``.. example-output:: python examples/NAME.py --fast`` shows the output of that
  command, pasted below the directive. ``:compare:`` says how
  ``tests/test_examples.py`` checks that the page stays true: ``exact`` (the
  default), ``any order`` (the same lines; trio's scheduler orders some of them
  differently from run to run) or ``numbers vary`` (the same lines with every number
  masked: timings) or ``progress varies`` (as ``numbers vary``, without the progress
  bars, whose count depends on timing, and with temporary paths and queue instance
  ids masked). Memory addresses (``0x7f...``) are always masked.
  ``python docs/_ext/example_pages.py`` runs every page's command and pastes the output.
* ``.. examples-index::`` lists every page of ``docs/examples/``: the example's name,
  linked to its page, and the first line of its docstring.
"""

from __future__ import annotations

import ast
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "docs" / "examples"
COMPARE = ("exact", "any order", "numbers vary", "progress varies")
OUTPUT = re.compile(
    r"^\.\. example-output:: (?P<command>.+)\n"
    r"(?:   :compare: (?P<compare>.+)\n)?"
    r"\n(?P<output>(?:(?:   .*)?\n)*)",
    re.MULTILINE,
)


def summary(name: str) -> str:
    """The first line of ``examples/NAME.py``'s docstring."""
    tree = ast.parse((ROOT / "examples" / f"{name}.py").read_text(encoding="utf-8"))
    return (ast.get_docstring(tree) or "").splitlines()[0]


def shown_outputs(page: Path) -> list[tuple[str, str, str]]:
    """(command, compare, output) of each ``example-output`` of a page."""
    found = []
    for match in OUTPUT.finditer(page.read_text(encoding="utf-8")):
        lines = match.group("output").rstrip("\n").splitlines()
        output = "\n".join(line[3:] for line in lines) + "\n"
        found.append((match.group("command"), match.group("compare") or "exact", output))
    return found


def normalized(output: str, compare: str) -> list[str]:
    """The lines of an output as ``compare`` compares them."""
    output = re.sub(r"0x[0-9a-f]+", "0x...", output)
    if compare == "progress varies":
        # Temporary paths and queue instances (host:pid:id) differ from run to run.
        output = re.sub(r"/tmp/[^/\s]+/", "/tmp/.../", output)
        output = re.sub(r"[\w.-]+:\d+:[0-9a-f]{12}\b", "HOST:PID:ID", output)
    if compare in ("numbers vary", "progress varies"):
        output = re.sub(r"\d+(\.\d+)?", "N", output)
    lines = [line.rstrip() for line in output.strip("\n").splitlines()]
    if compare == "progress varies":  # how many progress bars print depends on timing
        lines = [line for line in lines if not re.match(r"\[[#.]+\]", line)]
    return sorted(lines) if compare != "exact" else lines


def run(command: str) -> str:
    """Run a page's command (``python examples/...``) from the repository root."""
    argv = shlex.split(command)
    if argv[0] != "python":
        raise ValueError(f"an example's command starts with 'python': {command!r}")
    done = subprocess.run(
        [sys.executable, *argv[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


class ExampleOutput(SphinxDirective):
    required_arguments = 1
    final_argument_whitespace = True
    has_content = True
    option_spec = {"compare": lambda value: directives.choice(value, COMPARE)}

    def run(self) -> list[nodes.Node]:
        text = "\n".join(self.content)
        block = nodes.literal_block(text, text, language="text")
        command = "$ " + self.arguments[0]
        caption = nodes.caption("", "", nodes.literal(command, command))
        classes = ["literal-block-wrapper", "example-output"]
        container = nodes.container("", caption, block, classes=classes)
        container["literal_block"] = True
        out: list[nodes.Node] = [container]
        compare = self.options.get("compare", "exact")
        if compare != "exact":
            why = {
                "any order": "Some lines come in another order from run to run (trio's "
                "scheduler picks among tasks that are ready at the same moment).",
                "numbers vary": "The numbers (timings, speed-ups) vary from run to run.",
                "progress varies": "The numbers, the paths and how many progress lines "
                "print vary from run to run.",
            }[compare]
            out.append(nodes.paragraph("", why, classes=["example-output-note"]))
        return out


class ExamplesIndex(SphinxDirective):
    def run(self) -> list[nodes.Node]:
        items = nodes.bullet_list()
        for page in sorted(PAGES.glob("*.rst")):
            self.env.note_dependency(str(page))
            self.env.note_dependency(str(ROOT / "examples" / f"{page.stem}.py"))
            ref = nodes.inline()
            self.state.nested_parse(
                StringList([f":doc:`{page.stem} <examples/{page.stem}>`: {summary(page.stem)}"]),
                0,
                ref,
            )
            items += nodes.list_item("", *ref.children)
        return [items]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("example-output", ExampleOutput)
    app.add_directive("examples-index", ExamplesIndex)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _paste_outputs() -> None:
    """Run every page's example command and paste its output into the page."""
    for page in sorted(PAGES.glob("*.rst")):
        text = page.read_text(encoding="utf-8")

        def paste(match: re.Match[str]) -> str:
            output = run(match.group("command"))
            body = "".join(f"   {line}".rstrip() + "\n" for line in output.splitlines())
            compare = match.group("compare")
            option = f"   :compare: {compare}\n" if compare else ""
            return f".. example-output:: {match.group('command')}\n{option}\n{body}\n"

        page.write_text(OUTPUT.sub(paste, text), encoding="utf-8")
        print(f"pasted the output into {page.relative_to(ROOT)}")


if __name__ == "__main__":
    _paste_outputs()
