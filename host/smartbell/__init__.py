"""smartbell: the desktop side of the smart dumbbell (CLI, BLE logger, specs, journal, export).

The motion detector and the wire protocol are not here: they live in the firmware's `sbcore`
package, imported unchanged, so device and host can never disagree.
"""
__version__ = "0.1.0"


class SmartbellError(Exception):
    """Base of every error the host raises on purpose; subclasses also inherit a fitting builtin."""
