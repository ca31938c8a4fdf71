"""Device entry point: MicroPython runs this after boot.py. Everything lives in `sbdev.app`."""
from sbdev import app

app.main()
