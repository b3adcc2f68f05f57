"""Every Python code block of the docs runs, and the docs speak to users, not to us.

The pages show three kinds of Python blocks, each run the way a reader would use it:
a complete program (it calls ``trio.run``) runs as a script; a test module (it defines
``test_`` functions) runs under pytest with pytest-trio's ``trio_mode``; a fragment
runs inside a nursery, with the names the page around it has introduced (``nursery``,
``hello``, the classes imported from ``trio_otp``). The examples the pages include
(``literalinclude``) are the files ``tests/test_examples.py`` runs.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
BLOCK = re.compile(
    r"(?:^\.\. invisible-code-block: python\n\n((?:(?:   .*)?\n)+))?"
    r"^\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)",
    re.MULTILINE,
)


def _dedent(text: str | None) -> str:
    return textwrap.dedent(text or "").strip() + "\n"


def python_blocks() -> list[tuple[str, int, str, str]]:
    """(page, block number, setup, code) for every ``.. code-block:: python`` in docs/.

    A fragment that needs names its page only describes (a running server ``pid``, the
    ``self`` of a callback) gets them from an ``.. invisible-code-block: python``
    comment right before it (sybil's convention): run first, never shown.
    """
    found = []
    for page in sorted(DOCS.glob("*.rst")):
        for n, match in enumerate(BLOCK.finditer(page.read_text(encoding="utf-8")), 1):
            found.append((page.name, n, _dedent(match.group(1)), _dedent(match.group(2))))
    return found


BLOCKS = [(page, n, code) for page, n, _, code in python_blocks()]
SETUPS = {code: setup for _, _, setup, code in python_blocks()}


def kind(code: str) -> str:
    if "trio.run(" in code:
        return "program"
    if re.search(r"^(async )?def test_", code, re.MULTILINE):
        return "test module"
    return "fragment"


def test_the_docs_show_python_of_every_kind() -> None:
    """The pages hold complete programs, a test module and fragments (all run below)."""
    kinds = sorted(kind(code) for _, _, code in BLOCKS)
    assert kinds.count("program") >= 4
    assert kinds.count("test module") >= 1
    assert kinds.count("fragment") >= 3


@pytest.mark.parametrize(
    "code", [c for _, _, c in BLOCKS if kind(c) == "program"], ids=lambda c: c[:40]
)
def test_docs_program_runs(code: str) -> None:
    """Each complete program in the docs runs to completion with exit status 0."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() or done.stderr.strip()  # it shows the reader something


@pytest.mark.parametrize(
    "code", [c for _, _, c in BLOCKS if kind(c) == "test module"], ids=lambda c: c[:40]
)
def test_docs_test_module_passes(code: str, tmp_path: Path) -> None:
    """Each test module in the docs passes under pytest with trio_mode."""
    (tmp_path / "test_from_docs.py").write_text(code)
    (tmp_path / "pytest.ini").write_text("[pytest]\ntrio_mode = true\nfilterwarnings = error\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\d+ passed", done.stdout)


FRAGMENT_HARNESS = """\
import importlib.util, logging, logging.config, sys
import trio, trio.testing
import trio_otp as otp
import trio_otp as _harness_otp  # the harness's own name: a fragment may import otp itself
from trio_otp import DynamicSupervisor, Supervisor, Task

spec = importlib.util.spec_from_file_location("job_queue", {job_queue!r})
job_queue = importlib.util.module_from_spec(spec)
sys.modules["job_queue"] = job_queue
spec.loader.exec_module(job_queue)
hello = job_queue.hello


async def fragment(nursery):
{setup}
    {process}
{body}
        return locals()


async def main():
    async with trio.open_nursery() as nursery:
        bound = await fragment(nursery)
        nursery.cancel_scope.cancel()
    print(sorted(k for k in bound if k != "nursery"))


trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
"""


def _outer_statements(tree: ast.AST) -> list[ast.AST]:
    """The nodes of a fragment outside function and class bodies (whose names are local)."""
    out: list[ast.AST] = []
    todo = [tree]
    while todo:
        node = todo.pop()
        out.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    return out


@pytest.mark.parametrize(
    "code", [c for _, _, c in BLOCKS if kind(c) == "fragment"], ids=lambda c: c[:40]
)
def test_docs_fragment_runs(code: str) -> None:
    """Each fragment in the docs runs in a nursery with the names its page introduced
    (in its own process: a fragment may configure logging)."""
    script = FRAGMENT_HARNESS.format(
        job_queue=str(ROOT / "examples" / "job_queue.py"),
        setup=textwrap.indent(SETUPS[code], "    "),
        # A process, so that the fragment may use self(), unless it opens its own.
        process="if True:"
        if "otp.mailbox()" in code
        else "async with _harness_otp.mailbox() as inbox:",
        body=textwrap.indent(code, "        "),
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    # Every name the fragment assigns was bound: it ran to its end.
    assigned = {
        t.id
        for node in _outer_statements(ast.parse(code))
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    bound = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert assigned <= set(bound)


# Words of the project's own process, which a reader does not know: the Elixir chapter
# is "the Elixir chapter", the project's decisions are "the project's choices". A random
# seed (the demo's ``--seed``, a ``seed`` parameter, a "seeded" generator) is another word.
PROCESS_WORDS = re.compile(r"design card|(?<!`)\bseed\b(?!`)(?! \d)(?!=)", re.IGNORECASE)


def _user_texts() -> list[tuple[str, str]]:
    texts = [("README.md", (ROOT / "README.md").read_text(encoding="utf-8"))]
    texts += [(p.name, p.read_text(encoding="utf-8")) for p in sorted(DOCS.rglob("*.rst"))]
    sources = [*(ROOT / "trio_otp").rglob("*.py"), *(ROOT / "examples").glob("*.py")]
    for path in sorted(sources):
        source = path.read_text(encoding="utf-8")
        where = path.relative_to(ROOT)
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    texts.append((f"{where}:{getattr(node, 'name', '')}", doc))
        # The comments too: a reader of the source is a user as well.
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                texts.append((f"{where}:{token.start[0]}", token.string))
    return texts


def test_no_words_of_internal_process() -> None:
    """README, the docs pages, every docstring and comment of the package and the
    examples say "the Elixir chapter", never "seed"."""
    hits = [
        f"{where}: {m.group(0)!r} in {text[max(0, m.start() - 30) : m.end() + 30]!r}"
        for where, text in _user_texts()
        for m in PROCESS_WORDS.finditer(text)
        if "--seed" not in text[max(0, m.start() - 2) : m.end()]
    ]
    assert hits == []


def test_readme_links_are_absolute() -> None:
    """Every README link works on a package index, where relative links break."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+)\)", readme) + re.findall(r"<(https?://[^>]+)>", readme)
    assert links
    assert [link for link in links if not link.startswith("https://")] == []


def test_readme_install_names_every_extra_and_works_without_an_index() -> None:
    """The Install section lists each extra of pyproject.toml on a line of its own, and
    its commands install from a clone or the repository URL (the index name does not
    exist yet: ``pip install trio-otp`` is not among the commands)."""
    import tomllib

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = readme.split("## Install", 1)[1].split("\n## ", 1)[0]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for extra in extras:
        assert f"\n- `[{extra}]`: " in install, extra
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", install, flags=re.DOTALL))
    assert "pip install ." in commands
    assert "git+https://" in commands
    assert "install trio-otp" not in commands
    assert "install trio_otp\n" not in commands
