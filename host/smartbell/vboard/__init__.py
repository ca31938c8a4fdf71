"""Virtual board: MicroPython stand-ins for `machine` and `bluetooth` plus IMU register maps, so the
real firmware runs without an ESP32 (tests and `smartbell demo`). Put this folder on MICROPYPATH."""
