"""The `smartbell` command: one subcommand per module, imported only when it is used.

Each command module defines `add_arguments(parser)` and `run(args) -> int`. Errors derived from
`SmartbellError` are printed as one clear line with exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from smartbell import SmartbellError, __version__

# name -> (module, one-line help). Modules are imported lazily so `smartbell analyze` does not pay
# for bleak or matplotlib.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("smartbell.demo", "run a whole simulated session end to end, no hardware needed"),
    "simulate": ("smartbell.simulate", "write a simulated raw IMU trace and its ground truth"),
    "analyze": ("smartbell.analyze", "replay a raw trace through the firmware's detector"),
    "scan": ("smartbell.logger", "list nearby smartbell devices"),
    "session": ("smartbell.logger", "log a live session over BLE"),
    "sessions": ("smartbell.journal", "list past sessions"),
    "export": ("smartbell.export", "export sessions to CSV for the therapist"),
    "report": ("smartbell.report", "render a session or progress report (HTML/PDF)"),
    "plan": ("smartbell.plan", "check a therapist's plan file"),
    "spec": ("smartbell.spec", "show or check an exercise spec"),
    "device": ("smartbell.device", "install, flash or time the firmware on a board"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smartbell", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"smartbell {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:  # only the chosen command's module is imported
            mod = importlib.import_module(module)
            adder = getattr(mod, f"add_{name}_arguments", None) or mod.add_arguments
            adder(p)
            p.set_defaults(_module=mod, _name=name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wanted = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(wanted if wanted in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    runner = getattr(args._module, f"run_{args._name}", None) or args._module.run
    try:
        return int(runner(args) or 0)
    except SmartbellError as exc:
        print(f"smartbell {args._name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"smartbell {args._name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
