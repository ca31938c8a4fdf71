"""smartbell hardware layer: IMU drivers, BLE glue, event ring, config and the app.

Everything takes its bus, clock and radio as arguments, so it runs on the ESP32 and, with the
virtual board (`host/smartbell/vboard`), under the MicroPython unix port in tests.
"""
