"""The docs cannot drift from the code: every command shown is run or checked, every link resolves.

Commands come from the `sh` blocks of the README, the getting-started, user and developer guides
and the hardware guide. Each is classified (`classify`): commands that work without hardware run
for real, in document order, in a scratch folder with its own journal; commands that need a board
or Bluetooth must show `--help` cleanly, and `device` commands must fail with one clear line naming
the (absent) port. A command no rule knows fails, so a new command cannot go unchecked.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMAND_DOCS = ["README.md", "docs/getting-started.md", "docs/user-guide.md",
                "docs/developer-guide.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "hardware").glob("*.md"))]
SHELL_LANGS = {"sh", "bash", "shell", "console"}
HARDWARE_COMMANDS = {"scan", "session", "device"}     # need a board or Bluetooth
JOURNAL_READERS = {"sessions", "export", "report"}   # shown after a session
SESSION_ID = re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{4}\b")
EXAMPLE_PORT = re.compile(r"^(/dev/\S+|COM\d+)$")


# ---- reading Markdown --------------------------------------------------------------------------

FENCE = re.compile(r"^( {0,3})(```|~~~)([^\n`]*)\n(.*?)^\1\2[ \t]*$", re.M | re.S)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, indented ones (in lists) included."""
    out = []
    for m in FENCE.finditer(text):
        indent = len(m.group(1))
        body = "\n".join(line[indent:] if line[:indent].isspace() or not indent else line.lstrip()
                         for line in m.group(4).splitlines())
        out.append((m.group(3).strip().lower(), body))
    return out


def without_code(text: str) -> str:
    text = FENCE.sub("", text)
    return re.sub(r"`[^`\n]*`", "", text)


def shell_commands(text: str) -> list[str]:
    """Commands of the shell blocks: continuation lines joined, `&&` chains split, comments dropped."""
    cmds = []
    for lang, body in code_blocks(text):
        if lang not in SHELL_LANGS:
            continue
        for line in re.sub(r"\s*\\\n\s*", " ", body).splitlines():
            line = line.strip()
            if line.startswith("$ "):
                line = line[2:]
            if not line or line.startswith("#"):
                continue
            cmds += [part.strip() for part in line.split("&&") if part.strip()]
    return cmds


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)       # links -> their text
    text = text.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def markdown_files() -> list[Path]:
    skip = {".git", ".pytest_cache", "node_modules", "build", "dist"}
    return sorted(p for p in ROOT.rglob("*.md")
                  if not any(part in skip or part.endswith(".egg-info") for part in p.relative_to(ROOT).parts))


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in LINK.findall(without_code(path.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):        # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{target}: {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest} does not exist")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    return problems


# ---- links ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve(path):
    assert broken_links(path) == []


def test_link_checker_finds_broken_links(tmp_path):
    (tmp_path / "a.md").write_text("# Title here\n\n## Step 2: `run` it\n")
    doc = tmp_path / "b.md"
    doc.write_text("[ok](a.md#step-2-run-it) [ok](a.md) [bad](missing.md) [bad](a.md#nope)\n"
                   "[ok](#local) `[ignored](in-code.md)`\n\n## Local\n\n```sh\n[ignored](x.md)\n```\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys.modules[__name__], "ROOT", tmp_path)
        assert broken_links(doc) == [f"missing.md: missing.md does not exist",
                                     "a.md#nope: no heading with anchor #nope in a.md"]


def test_readme_lists_the_guides():
    readme = (ROOT / "README.md").read_text()
    docs_list = readme.split("## Documentation", 1)[1]
    for target in ("docs/getting-started.md", "docs/user-guide.md", "docs/developer-guide.md",
                   "hardware/README.md", "docs/architecture.md"):
        assert f"]({target})" in docs_list, f"README's Documentation list lacks {target}"


# ---- commands ---------------------------------------------------------------------------------

def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def ci_script() -> str:
    return (ROOT / ".ci" / "run").read_text()


def classify(argv: list[str]) -> str:
    """How a documented command is checked: run | hardware | pip | pytest | mpremote | openscad."""
    prog = argv[0]
    if prog == "smartbell":
        words = [a for a in argv[1:] if not a.startswith("-")]
        return "hardware" if words and words[0] in HARDWARE_COMMANDS else "run"
    if prog in ("pip", "pip3") or argv[:3] == ["python", "-m", "pip"]:
        return "pip"
    if argv[:3] == ["python", "-m", "pytest"]:
        return "pytest"
    if prog == "mpremote":
        return "mpremote"
    if prog == "openscad":
        return "openscad"
    if prog == "python" and len(argv) >= 2 and argv[1].endswith(".py"):
        return "script"
    raise AssertionError(f"no rule for the documented command {shlex.join(argv)!r}: "
                         "teach classify() in tests/test_docs.py how to check it")


DOC_COMMANDS = [(doc, i, cmd) for doc in COMMAND_DOCS
                for i, cmd in enumerate(shell_commands((ROOT / doc).read_text()))]


def test_the_main_docs_show_commands():
    docs = {doc for doc, _, _ in DOC_COMMANDS}
    assert {"README.md", "docs/getting-started.md"} <= docs
    readme = [cmd for doc, _, cmd in DOC_COMMANDS if doc == "README.md"]
    assert "smartbell demo" in readme and "python -m pytest -q" in readme


def test_command_parsing():
    text = ("```sh\npip install -e . && smartbell demo\n# a comment\n$ smartbell scan \\\n  --timeout 3\n```\n"
            "1. Step:\n\n   ```sh\n   smartbell sessions\n   ```\n```toml\nx = 1\n```\n")
    assert shell_commands(text) == ["pip install -e .", "smartbell demo", "smartbell scan --timeout 3",
                                    "smartbell sessions"]
    assert classify(["smartbell", "device", "flash", "--port", "X"]) == "hardware"
    assert classify(["smartbell", "--version"]) == "run"
    with pytest.raises(AssertionError, match="no rule for the documented command 'rm -rf x'"):
        classify(["rm", "-rf", "x"])


class Workspace:
    """A scratch folder and journal per document; runnable commands run once each, in order."""

    def __init__(self, root: Path, doc: str):
        self.dir = root / re.sub(r"\W", "_", doc)
        self.dir.mkdir(parents=True)
        self.env = dict(os.environ, SMARTBELL_HOME=str(self.dir / "home"), MPLBACKEND="Agg",
                        COLUMNS="100", NO_COLOR="1")
        self.done: dict[int, subprocess.CompletedProcess] = {}
        self._session_id: str | None = None

    def session_id(self) -> str:
        """A real session in this workspace's journal, for commands that show an example id."""
        if self._session_id is None:
            from smartbell.journal import Journal, record_analysis
            trace = self.dir / "_setup_trace.csv"
            run([smartbell_exe(), "simulate", "--exercise", "good-morning", "--reps", "4",
                 "--seed", "5", "--out", str(trace)], self, check=True)
            (self.dir / "home").mkdir(exist_ok=True)
            with Journal.open(self.dir / "home" / "journal.sqlite3") as j:
                self._session_id = record_analysis(j, trace, "good-morning")
        return self._session_id


def smartbell_exe() -> str:
    exe = shutil.which("smartbell")
    assert exe, "the `smartbell` command is not installed: pip install -e ."
    return exe


def run(argv: list[str], ws: Workspace, *, timeout: float = 300, check: bool = False):
    proc = subprocess.run(argv, cwd=ws.dir, env=ws.env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if check:
        assert proc.returncode == 0, f"{shlex.join(argv)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def resolved(argv: list[str], ws: Workspace) -> list[str]:
    """Repo paths made absolute (commands are shown from the project folder), example session
    ids replaced by a real one, and `smartbell` by the installed entry point."""
    out = []
    for arg in argv:
        if SESSION_ID.search(arg):
            arg = SESSION_ID.sub(ws.session_id(), arg)
        elif not arg.startswith("-") and "/" in arg and (ROOT / arg).exists():
            arg = str(ROOT / arg)
        out.append(arg)
    if out[0] == "smartbell":
        out[0] = smartbell_exe()
    return out


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    cache: dict[str, Workspace] = {}

    def get(doc: str) -> Workspace:
        if doc not in cache:
            cache[doc] = Workspace(root, doc)
        return cache[doc]
    return get


def run_in_order(doc: str, index: int, ws: Workspace) -> subprocess.CompletedProcess:
    """Run the doc's runnable commands up to `index` (once each): later ones use earlier output."""
    for i, cmd in [(i, c) for d, i, c in DOC_COMMANDS if d == doc and i <= index]:
        argv = shlex.split(cmd)
        if i not in ws.done and classify(argv) == "run":
            if argv[1] in JOURNAL_READERS:   # shown after a session: give them one to read
                ws.session_id()
            ws.done[i] = run(resolved(argv, ws), ws)
    return ws.done[index]


def check_hardware_command(argv: list[str], ws: Workspace) -> None:
    words = []
    for a in argv[1:]:
        if a.startswith("-"):
            break
        words.append(a)
    help_proc = run([smartbell_exe(), *words, "--help"], ws, timeout=60)
    assert help_proc.returncode == 0, help_proc.stderr
    assert help_proc.stdout.startswith("usage: smartbell " + " ".join(words)), help_proc.stdout
    for opt in (a for a in argv[1:] if a.startswith("--")):
        assert opt.split("=")[0] in help_proc.stdout, f"{opt} is not an option of smartbell {' '.join(words)}"
    if words[0] == "scan":
        # Here: no Bluetooth (one clear line, exit 2); on a laptop: a list or "none found".
        proc = run(resolved(argv, ws) + ["--timeout", "1"], ws, timeout=60)
        assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
        assert proc.returncode in (0, 1) or len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        return
    if words[0] == "session":
        # Never reaches the radio here: the safety screening needs a person at a terminal (or the
        # plan file is the docs' example name). Either way one clear line, exit 2.
        proc = run(resolved(argv, ws), ws, timeout=60)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        return
    # Without a board: one clear line naming the port, exit status 2, no traceback.
    argv = list(argv)
    port = argv[argv.index("--port") + 1]
    assert EXAMPLE_PORT.match(port), f"example port {port!r} should look like /dev/ttyUSB0 or COM3"
    assert not Path(port).exists(), f"{port} exists on this machine: the test needs an absent port"
    if "--firmware" in argv:     # the user's download: stand in a file so the port is what fails
        fake = ws.dir / "fake-micropython.bin"
        fake.write_bytes(b"\xe9" + bytes(4095))
        argv[argv.index("--firmware") + 1] = str(fake)
    proc = run(resolved(argv, ws), ws, timeout=120)
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert port in proc.stderr, f"the error does not name the port {port}: {proc.stderr!r}"
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def check_pip(argv: list[str]) -> None:
    target = argv[argv.index("-e") + 1] if "-e" in argv else argv[-1]
    m = re.fullmatch(r"\.(?:\[([\w,-]+)\])?", target)
    assert m, f"pip installs {target!r}: the docs should install this project (., .[extra])"
    extras = pyproject()["project"].get("optional-dependencies", {})
    for extra in filter(None, (m.group(1) or "").split(",")):
        assert extra in extras, f"pyproject.toml has no [{extra}] extra"
    if target == ".[test]":
        assert re.search(r"pip install .*-e '\.\[test\]'", ci_script()), ".ci/run installs something else"


@pytest.mark.parametrize("doc,index,cmd", DOC_COMMANDS, ids=[f"{d}:{c}" for d, _, c in DOC_COMMANDS])
def test_documented_command(doc, index, cmd, workspaces):
    argv = shlex.split(cmd)
    kind = classify(argv)
    ws = workspaces(doc)
    if kind == "run":
        proc = run_in_order(doc, index, ws)
        assert proc.returncode == 0, f"`{cmd}` exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr
        if "--out" in argv:
            out = ws.dir / argv[argv.index("--out") + 1]
            assert out.exists(), f"`{cmd}` did not write {out.name}"
    elif kind == "hardware":
        check_hardware_command(argv, ws)
    elif kind == "pip":
        check_pip(argv)
    elif kind == "pytest":
        # Not run from inside the suite: CI runs exactly this command.
        assert cmd in ci_script(), f"`{cmd}` is not what .ci/run runs"
    elif kind == "mpremote":
        assert any(d.startswith("mpremote") for d in pyproject()["project"]["optional-dependencies"]["device"]), \
            "mpremote is not in the [device] extra the docs install"
        assert EXAMPLE_PORT.match(argv[argv.index("connect") + 1])
        if "cp" in argv:
            src, dest = argv[argv.index("cp") + 1:argv.index("cp") + 3]
            assert (ROOT / src).is_file(), f"{src} does not exist"
            if dest == ":config.json":
                defaults = json.loads((ROOT / "firmware" / "config.json").read_text())
                assert set(json.loads((ROOT / src).read_text())) == set(defaults)
    elif kind == "openscad":
        if not shutil.which("openscad"):
            pytest.skip("openscad is not installed here (apt-get install openscad; CI installs it)")
        proc = run(resolved(argv, ws), ws, timeout=120)
        assert proc.returncode == 0, proc.stderr
        out = argv[argv.index("-o") + 1]
        assert (ws.dir / out).stat().st_size > 1000
    elif kind == "script":
        proc = run([sys.executable, *resolved(argv[1:], ws)], ws, timeout=300)
        assert proc.returncode == 0, proc.stderr


# ---- example spec files ------------------------------------------------------------------------

def blocks_of(lang: str) -> list[tuple[str, str]]:
    out = []
    for doc in COMMAND_DOCS:
        out += [(doc, body) for l, body in code_blocks((ROOT / doc).read_text()) if l == lang]
    return out


@pytest.mark.parametrize("doc,body", blocks_of("toml"), ids=lambda x: x if isinstance(x, str) and x.endswith(".md") else "")
def test_documented_spec_files_load(doc, body, tmp_path):
    from smartbell.spec import load_spec
    path = tmp_path / "example.toml"
    path.write_text(body)
    spec = load_spec(str(path))
    assert spec.limits, f"the example spec in {doc} checks nothing"



# ---- the user guide describes what the program really shows ------------------------------------

USER_GUIDE = ROOT / "docs" / "user-guide.md"


def test_user_guide_explains_every_phase_the_screen_shows():
    from smartbell.live import PHASE_LABELS
    text = USER_GUIDE.read_text()
    missing = [label for label in PHASE_LABELS.values() if label not in text]
    assert missing == [], f"phases shown by the live view but not explained: {missing}"


def test_user_guide_explains_every_verdict(tmp_path):
    from smartbell.spec import LIMIT_KEYS, load_spec
    # A spec that checks everything, and reps that fail each check in turn.
    path = tmp_path / "all.toml"
    path.write_text('[exercise]\nname = "all"\ntitle = "All"\n[limits]\n'
                    'rom_min_deg = 20.0\nrom_max_deg = 60.0\nto_far_min_s = 1.0\nreturn_min_s = 1.0\n'
                    'duration_max_s = 20.0\nhold_min_s = 1.0\nhold_max_s = 5.0\nabrupt_max = 0\n'
                    'weight_max_kg = 3.0\n[detector]\n')
    spec = load_spec(str(path))
    assert set(spec.limits) == set(LIMIT_KEYS), "a new limit: add it to this test's spec"
    good = {"rom_deg": 40.0, "to_far_s": 2.0, "return_s": 2.0, "duration_s": 6.0, "hold_s": 2.0}
    variants = [dict(rom_deg=5.0), dict(rom_deg=90.0), dict(to_far_s=0.2), dict(return_s=0.2),
                dict(duration_s=60.0), dict(hold_s=0.1), dict(hold_s=30.0)]
    verdicts = set()
    for change in variants:
        verdicts |= set(spec.check_rep({**good, **change}).values())
    verdicts |= set(spec.check_rep(good, abrupt_count=2, weight_kg=9.0).values())
    problems = verdicts - {"ok", "fix", "-"}
    assert len(problems) >= 8
    text = USER_GUIDE.read_text()
    assert [p for p in sorted(problems) if p not in text] == []


def test_user_guide_quotes_the_logger_messages():
    logger = (ROOT / "host" / "smartbell" / "logger.py").read_text()
    text = USER_GUIDE.read_text()
    for message in ("link lost: reconnecting", "Plan done. Well done!", "Sensor recovered.",
                    "The dumbbell restarted: carrying on."):
        assert message in logger, f"the logger no longer says {message!r}: update the user guide"
        assert message in text


def test_user_guide_keeps_the_safety_guidelines():
    text = USER_GUIDE.read_text().lower()
    for words in ("muscular", "trauma", "surgery", "nerve compression", "therapist",
                  "light weights", "start small and slow", "no abrupt movements"):
        assert words in text, f"the safety guidelines lost {words!r}"
