"""The documentation runs and shows what it prints.

Every fenced ```python block of README.md and docs/*.md is run, the blocks of one file in
document order and in one namespace per file, with the repository root as the working
directory (a new top-level file whose name the block spells out, such as the one a
``to_json("x.json")`` example writes, is removed afterwards). Shell blocks (bash, console,
text) are not run, but every ``--flag`` of a ``polyopt ...`` / ``lipschitz ...`` command in
the docs (in shell and text blocks, and in inline code of a file that shows such a command)
must exist in that command's ``--help``, and values written ``--flag a|b`` must be among its
choices. Relative links (``[x](concepts.md#scaling)``) must reach a file and a heading, and
repository paths in the text (``examples/...``, ``benchmarks/...``, except the generated
``benchmarks/out/``) must exist.

Conventions for writing documentation
-------------------------------------

**Shown output.** What a statement prints is written in comments that start with ``# ->``,
at the end of the statement's last line or on the comment lines right after it, one
``# ->`` line per output line::

    print(r.bound, r.status)          # -> -0.37110884184697446 optimal
    print(prob)
    # -> Problem(3 variables: minimize x1^4 + x2^2 - x1*x3
    # ->   s.t. -x3^2 - x2^2 - x1^2 + 1 >= 0)
    r.bound, r.status                 # -> (-0.3711088..., 'optimal')
    for d in (1, 2):                  # a loop: its whole output follows it
        print(d, maxcut.solve(order=d).bound)
    # -> 1 4.5225424...
    # -> 2 4.0000000...

The shown text is compared with what the statement printed; for a bare expression (not a
call of ``print``) the ``repr`` of its value is appended, as in the interpreter. Numbers
match within a relative tolerance of 1e-3 (plus an absolute 1e-9, for values that are zero
up to rounding) unless the block sets its own; two integers must be equal. A number written
with a trailing ``...`` (``0.7790369...``) shows its leading digits. A ``...`` on its own
matches any text (times, parts of long tables). Everything else must match token by token;
whitespace only separates tokens. A note after the shown output starts with `` # ``
(``# -> 2 3  # degree, terms``). Other comments are not checked, and statements without
``# ->`` run unchecked. A ``# ->`` line that follows no statement is an error.

**Markers.** An HTML comment on the line(s) right before a block marks it (several words,
separated by spaces or ``;``, may share one comment):

- ``<!-- docs-test: skip (reason) -->``: not run (an illustration with placeholders, ...).
- ``<!-- docs-test: slow -->``: takes more than about 10 s; runs only under ``pytest -m slow``
  (the default run, which excludes ``slow``, must stay under a minute on 2 cores). Blocks
  that are not slow must not need the names that slow blocks define.
- ``<!-- docs-test: data -->``: needs the shared data sets (``lipschitz.load_sdp_nn``,
  ``lipschitz.load_mnist``: ``../shared/data`` or ``$LIPSCHITZ_DATA``); skipped when they
  are absent.
- ``<!-- docs-test: rtol=1e-2 atol=1e-6 -->``: the tolerances of the block's numbers.
- ``<!-- docs-test: signature -->``: an API signature such as
  ``upper_bound(net, order=None, ...) -> LipschitzBound``; not run: its parameters (names,
  order, keyword-only ``*``, defaults) are compared with ``inspect.signature`` of the
  ``lipschitz`` (else ``polyopt``) object of that name. ``...`` as a default matches any.

Running one block (``pytest tests/test_docs.py -k "lipschitz.md:412"``) runs the earlier
blocks of its file first, unchecked (slow ones only for a slow block).
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import io
import math
import os
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RTOL = 1e-3
ATOL = 1e-9
MARKER = re.compile(r"^\s*<!--\s*docs-test:\s*(.*?)\s*-->\s*$")
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
OUTPUT = re.compile(r"^#\s?->\s?")
NOTE = re.compile(r"\s+#\s.*$")


# ----------------------------------------------------------------------------- blocks


@dataclass
class Block:
    doc: Path
    line: int  # line of the first code line, 1-based
    code: str
    skip: str | None = None
    slow: bool = False
    data: bool = False
    signature: bool = False
    rtol: float = RTOL
    atol: float = ATOL

    @property
    def id(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def parse_markers(text: str, block: Block) -> None:
    text = text.strip()
    while text:
        m = re.match(r"skip\s*(\((?:[^()]|\([^()]*\))*\))?", text)
        if m:
            block.skip = (m.group(1) or "(no reason given)")[1:-1]
        elif m := re.match(r"(rtol|atol)\s*=\s*([0-9.eE+-]+)", text):
            setattr(block, m.group(1), float(m.group(2)))
        elif m := re.match(r"(slow|data|signature)\b", text):
            setattr(block, m.group(1), True)
        else:
            raise ValueError(f"{block.id}: unknown docs-test marker {text!r}")
        text = text[m.end() :].lstrip(" ;,")


def fenced_blocks(doc: Path):
    """(language, first code line, code lines, marker texts) of every fenced block."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang = len(m.group(1)), m.group(2), m.group(3).lower()
        markers = []
        k = i - 1
        while k >= 0 and (mk := MARKER.match(lines[k])):
            markers.insert(0, mk.group(1))
            k -= 1
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        body = [ln[indent:] if ln[:indent].strip() == "" else ln for ln in lines[i + 1 : j]]
        yield lang, i + 2, body, markers
        i = j + 1


def python_blocks(doc: Path) -> list[Block]:
    blocks = []
    for lang, line, body, markers in fenced_blocks(doc):
        if lang != "python":
            continue
        block = Block(doc, line, "\n".join(body) + "\n")
        for text in markers:
            parse_markers(text, block)
        blocks.append(block)
    return blocks


BLOCKS = {doc: python_blocks(doc) for doc in DOC_FILES}


# ----------------------------------------------------------------------------- comparison

TOKEN = re.compile(
    r"(?P<num>(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w]))(?P<dots>\.\.\.)?"
    r"|(?P<any>\.\.\.)"
    r"|(?P<word>[A-Za-z_]\w*)"
    r"|(?P<sym>\S)"
)


def tokens(text: str) -> list[tuple]:
    """("num", value, is_int, text) / ("any",) / ("text", string) tokens."""
    out = []
    for m in TOKEN.finditer(text):
        if m.group("num"):
            s = m.group("num")
            is_int = m.group("dots") is None and re.fullmatch(r"[-+]?\d+", s) is not None
            out.append(("num", float(s), is_int, s + (m.group("dots") or "")))
        elif m.group("any"):
            out.append(("any",))
        else:
            out.append(("text", m.group(0)))
    return out


def _same(e: tuple, a: tuple, rtol: float, atol: float) -> bool:
    if e[0] == "num":
        if a[0] != "num":
            return False
        if e[2] and a[2]:
            return e[1] == a[1]
        if math.isclose(e[1], a[1], rel_tol=rtol, abs_tol=atol):
            return True
        if e[3].endswith("..."):  # leading digits: within one unit of the last one shown
            digits = re.match(r"[-+]?\d*\.?(\d*)", e[3]).group(1)
            return abs(a[1] - e[1]) < 10.0 ** -len(digits) and "e" not in e[3].lower()
        return False
    return e == a


def matches(expected: str, actual: str, rtol: float = RTOL, atol: float = ATOL) -> bool:
    exp, act = tokens(expected), tokens(actual)
    memo: dict[tuple[int, int], bool] = {}

    def go(i: int, j: int) -> bool:
        if (i, j) in memo:
            return memo[i, j]
        if i == len(exp):
            ok = j == len(act)
        elif exp[i][0] == "any":
            ok = go(i + 1, j) or (j < len(act) and go(i, j + 1))
        else:
            ok = j < len(act) and _same(exp[i], act[j], rtol, atol) and go(i + 1, j + 1)
        memo[i, j] = ok
        return ok

    return go(0, 0)


# ----------------------------------------------------------------------------- running


def _comments(code: str) -> dict[int, tuple[str, bool]]:
    """Line (1-based) -> (comment text, whether the comment is alone on its line)."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            alone = tok.line[: tok.start[1]].strip() == ""
            out[tok.start[0]] = (tok.string, alone)
    return out


def _shown(comment: str) -> str:
    return NOTE.sub("", OUTPUT.sub("", comment, count=1)).rstrip()


def statements(block: Block) -> list[tuple[ast.stmt, list[str] | None]]:
    """The block's top-level statements, each with the output shown for it (None: none)."""
    tree = ast.parse(block.code, filename=block.id)
    ast.increment_lineno(tree, block.line - 1)
    comments = {ln + block.line - 1: c for ln, c in _comments(block.code).items()}
    used = set()
    out = []
    for stmt in tree.body:
        shown = []
        end = stmt.end_lineno
        c = comments.get(end)
        if c and not c[1] and OUTPUT.match(c[0]):
            shown.append(_shown(c[0]))
            used.add(end)
        k = end + 1
        while k in comments and comments[k][1] and OUTPUT.match(comments[k][0]):
            shown.append(_shown(comments[k][0]))
            used.add(k)
            k += 1
        out.append((stmt, shown or None))
    dangling = [ln for ln, (c, _) in comments.items() if OUTPUT.match(c) and ln not in used]
    if dangling:
        raise AssertionError(
            f"{block.doc.name}: '# ->' output on line(s) {dangling} follows no statement"
        )
    return out


class OutputMismatch(AssertionError):
    """Shown output that differs from the printed one."""


def run_block(block: Block, ns: dict, check: bool = True) -> None:
    """Run the block's statements in ``ns``; compare the shown outputs at the end."""
    before = set(os.listdir(ROOT))
    try:
        _run_block(block, ns, check)
    finally:
        # a file an example writes (``to_json("x.json")``) must not stay in the working tree:
        # remove the new top-level files whose names the block's code spells out
        for name in set(os.listdir(ROOT)) - before:
            path = ROOT / name
            if path.is_file() and name in block.code:
                path.unlink()


def _run_block(block: Block, ns: dict, check: bool) -> None:
    filename = str(block.doc.relative_to(ROOT))
    errors = []
    for stmt, shown in statements(block):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            if isinstance(stmt, ast.Expr):
                expr = ast.Expression(stmt.value)
                value = eval(compile(expr, filename, "eval"), ns)
                if value is not None and not _is_print(stmt.value):
                    print(repr(value))
            else:
                module = ast.Module(body=[stmt], type_ignores=[])
                exec(compile(module, filename, "exec"), ns)
        if check and shown is not None:
            expected = "\n".join(shown)
            actual = buf.getvalue().rstrip("\n")
            if not matches(expected, actual, block.rtol, block.atol):
                errors.append(
                    f"{filename}:{stmt.lineno}: shown output differs from the printed one "
                    f"(rtol {block.rtol:g}, atol {block.atol:g})\n"
                    f"--- shown\n{expected}\n--- printed\n{actual}"
                )
    if errors:
        raise OutputMismatch("\n\n".join(errors))


def _is_print(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"
    )


def have_data() -> bool:
    from lipschitz.data import data_candidates

    return all(any(p.is_dir() for p in data_candidates(n)) for n in ("sdp-nn", "mnist"))


@dataclass
class DocState:
    ns: dict = field(default_factory=lambda: {"__name__": "__docs__"})
    done: set = field(default_factory=set)
    failed: list = field(default_factory=list)


STATES: dict[Path, DocState] = {}


def runnable(block: Block, data: bool) -> bool:
    return block.skip is None and not block.signature and (data or not block.data)


def _all_params():
    out = []
    for doc in DOC_FILES:
        for b in BLOCKS[doc]:
            if b.signature:
                continue
            marks = [pytest.mark.slow] if b.slow else []
            if b.skip is not None:
                marks.append(pytest.mark.skip(reason=b.skip))
            out.append(pytest.param(b, id=b.id, marks=marks))
    return out


@pytest.mark.parametrize("block", _all_params())
def test_python_block(block: Block, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    data = have_data()
    if block.data and not data:
        pytest.skip("needs the shared data sets (../shared/data or $LIPSCHITZ_DATA)")
    state = STATES.setdefault(block.doc, DocState())
    blocks = BLOCKS[block.doc]
    index = blocks.index(block)
    if state.failed:
        pytest.skip(f"an earlier block of this file failed: {', '.join(state.failed)}")
    for earlier in blocks[:index]:
        if earlier.id in state.done or not runnable(earlier, data):
            continue
        if earlier.slow and not block.slow:
            continue
        state.done.add(earlier.id)
        try:
            run_block(earlier, state.ns, check=False)
        except Exception as exc:
            state.failed.append(earlier.id)
            pytest.fail(f"earlier block {earlier.id} failed: {exc!r}")
    state.done.add(block.id)
    try:
        run_block(block, state.ns)
    except OutputMismatch:
        raise
    except Exception:
        state.failed.append(block.id)  # the namespace is incomplete: skip the later blocks
        raise


# ----------------------------------------------------------------------------- signatures

SIGNATURE = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*\((.*)\)\s*(?:->.*)?$", re.S)


def resolve(name: str):
    import lipschitz
    import polyopt

    for root in (lipschitz, polyopt):
        obj = root
        try:
            for part in name.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return obj
    raise AssertionError(f"{name} is neither in lipschitz nor in polyopt")


def _signature_params():
    out = []
    for doc in DOC_FILES:
        for b in BLOCKS[doc]:
            if b.signature:
                out.append(pytest.param(b, id=b.id))
    return out


@pytest.mark.parametrize("block", _signature_params())
def test_signature_block(block: Block) -> None:
    m = SIGNATURE.match(block.code)
    assert m, f"{block.id}: not a signature 'name(params) -> result'"
    name, params = m.group(1), m.group(2)
    shown = ast.parse(f"def f({params}): pass").body[0].args
    obj = resolve(name)
    actual = inspect.signature(obj)
    if inspect.isclass(obj):
        actual = actual.replace(parameters=[p for p in actual.parameters.values()])
    want = [(a.arg, "positional") for a in shown.posonlyargs + shown.args]
    want += [(a.arg, "keyword") for a in shown.kwonlyargs]
    if shown.vararg:
        want.append((shown.vararg.arg, "*"))
    if shown.kwarg:
        want.append((shown.kwarg.arg, "**"))
    kinds = {
        inspect.Parameter.POSITIONAL_ONLY: "positional",
        inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional",
        inspect.Parameter.KEYWORD_ONLY: "keyword",
        inspect.Parameter.VAR_POSITIONAL: "*",
        inspect.Parameter.VAR_KEYWORD: "**",
    }
    have = [(p.name, kinds[p.kind]) for p in actual.parameters.values()]
    assert want == have, f"{block.id}: {name}{actual} has other parameters than shown"
    positional = shown.posonlyargs + shown.args
    defaults = dict(zip([a.arg for a in positional][::-1], shown.defaults[::-1]))
    defaults.update(
        {a.arg: d for a, d in zip(shown.kwonlyargs, shown.kw_defaults) if d is not None}
    )
    module = inspect.getmodule(obj)
    for p in actual.parameters.values():
        if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        node = defaults.get(p.name)
        assert (node is None) == (p.default is inspect.Parameter.empty), (
            f"{block.id}: {name}: the default of {p.name} is {p.default!r} in the code"
        )
        if node is None or (isinstance(node, ast.Constant) and node.value is Ellipsis):
            continue
        try:
            value = ast.literal_eval(node)
        except ValueError:
            value = eval(ast.unparse(node), vars(module))
        assert value == p.default, (
            f"{block.id}: {name}: {p.name}={ast.unparse(node)} shown, {p.default!r} in the code"
        )


# ----------------------------------------------------------------------------- CLI flags

COMMAND = re.compile(r"(?:^\s*|\$ |&& |-m |`)(polyopt|lipschitz) (\w+)")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
FOREIGN_FLAGS = {"--extra-index-url"}  # pip's, in README's set-up section


def cli_help(prog: str, sub: str | None) -> str:
    import lipschitz.cli
    import polyopt.cli

    main = {"polyopt": polyopt.cli.main, "lipschitz": lipschitz.cli.main}[prog]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        main(([sub] if sub else []) + ["--help"])
    return buf.getvalue()


def subcommands(prog: str) -> set[str]:
    m = re.search(r"\{([\w,]+)\}", cli_help(prog, None))
    return set(m.group(1).split(","))


def command_mentions(doc: Path):
    """(prog, sub, text of the command, line) for every command in the doc, and the flags
    written in inline code elsewhere."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    fence = None  # the language of the fenced block we are in
    commands, loose = [], []
    for i, line in enumerate(lines):
        if m := FENCE.match(line):
            fence = None if fence is not None else m.group(3).lower() or "text"
            continue
        if fence == "python":
            continue
        for m in COMMAND.finditer(line):
            rest = line[m.end() :]
            if fence is None:
                if not m.group(0).startswith("`"):
                    continue  # prose, not a command in inline code
                rest = rest.split("`", 1)[0]
            else:
                k = i + 1  # continuation lines of a usage text or a shell command
                while k < len(lines) and lines[k][:1] == " " and not COMMAND.search(lines[k]):
                    rest += " " + lines[k]
                    k += 1
            if nxt := COMMAND.search(rest):
                rest = rest[: nxt.start()]
            commands.append((m.group(1), m.group(2), rest, i + 1))
        if fence is None:
            for span in re.findall(r"`([^`]*)`", line):
                if not COMMAND.search("`" + span):
                    loose += [(f, i + 1) for f in FLAG.findall(span)]
    return commands, loose


def test_cli_flags_exist() -> None:
    helps, problems = {}, []
    progs = {p: subcommands(p) for p in ("polyopt", "lipschitz")}
    for doc in DOC_FILES:
        commands, loose = command_mentions(doc)
        known = set()
        for prog, sub, text, line in commands:
            where = f"{doc.relative_to(ROOT)}:{line}"
            if sub not in progs[prog]:
                problems.append(f"{where}: '{prog} {sub}' is no subcommand")
                continue
            if (prog, sub) not in helps:
                helps[prog, sub] = cli_help(prog, sub)
            text_help = helps[prog, sub]
            flags = set(FLAG.findall(text_help))
            known |= flags
            for flag in FLAG.findall(text):
                if flag not in flags:
                    problems.append(f"{where}: {prog} {sub} has no {flag}")
            # alternatives shown as --flag a|b|c must be among argparse's choices
            for flag, alts in re.findall(r"(--[a-z][a-z0-9-]*)[ =]([\w.:-]+(?:\|[\w.:-]*)+)", text):
                choices = re.search(re.escape(flag) + r" \{([^}]*)\}", text_help)
                if choices:
                    bad = {a for a in alts.split("|") if a} - set(choices.group(1).split(","))
                    if bad:
                        problems.append(f"{where}: {prog} {sub} {flag} has no {sorted(bad)}")
        if commands:
            for flag, line in loose:
                if flag not in known and flag not in FOREIGN_FLAGS:
                    problems.append(f"{doc.relative_to(ROOT)}:{line}: no command here has {flag}")
    assert not problems, "\n".join(problems)


# ----------------------------------------------------------------------------- links and paths

LINK = re.compile(r"\]\(([^)\s]+)\)")
PATH = re.compile(
    r"(?<![\w/.])((?:examples|benchmarks|tests|docs|polyopt|lipschitz)/[\w./-]+\.\w+)"
)


def slug(heading: str) -> str:
    """The anchor mkdocs (Python-Markdown's toc) gives a heading."""
    text = re.sub(r"[^\w\s-]", "", heading).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def prose(doc: Path) -> list[tuple[int, str]]:
    """(line, text) of the lines outside fenced blocks."""
    out, fence = [], False
    for i, line in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fence = not fence
        elif not fence:
            out.append((i, line))
    return out


def test_links_and_paths_exist() -> None:
    anchors = {
        doc: {slug(ln.lstrip("#")) for _, ln in prose(doc) if re.match(r"#{1,6} ", ln)}
        for doc in DOC_FILES
    }
    problems = []
    for doc in DOC_FILES:
        for line, text in prose(doc):
            where = f"{doc.relative_to(ROOT)}:{line}"
            for target in LINK.findall(text):
                if re.match(r"[a-z]+:", target):
                    continue  # http:, mailto:
                file, _, anchor = target.partition("#")
                path = (doc.parent / file).resolve() if file else doc
                if not path.exists():
                    problems.append(f"{where}: no file {file}")
                elif anchor and path.suffix == ".md" and anchor not in anchors.get(path, ()):
                    problems.append(f"{where}: no heading #{anchor} in {path.name}")
        for line, text in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            for rel in PATH.findall(text):
                if not rel.startswith("benchmarks/out/") and not (ROOT / rel).exists():
                    problems.append(f"{doc.relative_to(ROOT)}:{line}: no file {rel}")
    assert not problems, "\n".join(problems)
