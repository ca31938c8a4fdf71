"""smartbell core: pure Python shared by the device (MicroPython) and the host (CPython).

Nothing here touches hardware. `motion` turns raw IMU samples into reps, holds and abrupt
events; `protocol` packs them for BLE and the host decodes them with the same module.
"""
