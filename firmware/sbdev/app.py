"""The smartbell device app: IMU FIFO -> detector -> event ring -> BLE, plus control commands.

`App` takes its bus, clock and radio as arguments. On the board `main()` builds them from
`config.json` and runs three asyncio tasks (sensor, radio, housekeeping) that call `poll_sensor()`,
`service_radio()` and `housekeeping()`; on the virtual board `sbdev.vrun` calls `tick()` in
virtual time. The per-sample path (`_process`) allocates nothing.

    app = App(cfg, i2c, clock=time, ble=bluetooth.BLE())
    app.tick()      # every 20 ms
"""
try:
    import micropython
    from micropython import const
except ImportError:
    from sbcore.compat import micropython, const

import machine

from sbcore import protocol as P
from sbcore.compat import ticks_add, ticks_diff
from sbcore.motion import (Detector, PARAMS, EV_REP, EV_HOLD, EV_ABRUPT, EV_ANCHOR,
                           EV_CALIBRATED)
from sbdev import imu as imu_mod
from sbdev.ble import Radio
from sbdev.ring import EventRing

# Private consts: MicroPython inlines them and keeps no name for them in the heap.
_FW_VERSION = const(100)          # 1.00
_TICK_MS = const(20)
_RING_SIZE = const(256)
_EVENTS_PER_TICK = const(4)       # event + response notifications per tick
_NOTIFY_PER_TICK = const(6)       # all notifications per tick
_HOLD_AFTER_CONNECT_MS = const(1000)
_FAULT_HOLD_MS = const(1000)      # stuck / saturated this long = fault
_RETRY_MS = const(500)            # re-init a faulty IMU this often
_DETECT_RETRY_MS = const(2000)
_STUCK_RETRY_MS = const(2000)
_SENSOR_STALL_MS = const(3000)    # no sensor loop this long: stop feeding the watchdog
_BATTERY_MS = const(10000)
_LED_FLASH_MS = const(50)          # connected: one flash this long ...
_LED_CONNECTED_PERIOD_MS = const(2000)   # ... this often
_LOW_BATTERY_MV = const(3400)
_RESP_SLOTS = const(8)
_LIVE_BUF = const(244)
_SAT_HI = const(32767)
_SAT_LO = const(-32768)
_BUTTON_DEBOUNCE_MS = const(60)
_TICKS_MASK = const((1 << 30) - 1)

# imu kinds for the `get imu` key (docs/protocol.md)
IMU_IDS = {"MPU6050": 1, "MPU6500": 2, "MPU6886": 3, "LSM6DS3": 4, "LSM6DS3TR-C": 4,
           "LSM6DSOX": 5}


@micropython.native
def _s16(b, o):
    v = b[o] | (b[o + 1] << 8)
    if v & 0x8000:
        return v - 65536
    return v


@micropython.native
def _same_and_copy(last, b, o):
    # True if the 12 bytes at b[o] equal `last`; `last` becomes them either way.
    same = True
    for i in range(12):
        v = b[o + i]
        if last[i] != v:
            same = False
            last[i] = v
    return same


def _errno(exc):
    a = exc.args[0] if exc.args else 0
    return -a if isinstance(a, int) else -5


def device_name(prefix, uid):
    return "%s-%02X%02X" % (prefix, uid[-2], uid[-1])


class App:
    def __init__(self, cfg, i2c, clock, ble, wdt=None, hooks=None, log=print):
        self.cfg = cfg
        self.i2c = i2c
        self.clock = clock
        self.log = log
        self.wdt = wdt
        self._poll_hook = hooks[0] if hooks else None
        self._pace_hook = hooks[1] if hooks else None
        self.rate_hz = cfg["rate_hz"]
        self.ring = EventRing(_RING_SIZE)
        self.scratch = bytearray(P.EVENT_MAX)
        self.batch = bytearray(imu_mod.SAMPLE_BYTES * imu_mod.BATCH_MAX)
        self._last = bytearray(12)
        # counters a test or the console can read
        self.samples = 0
        self.ticks = 0
        self.events_sent = 0
        self.live_dropped = 0
        self.live_sent = 0
        self.max_backlog = 0
        self.commands = 0
        self.command_errors = 0
        # sensor state
        self.imu = None
        self.det = None
        self.fault = 0
        self._retry_at = 0
        self._stuck_ms = 0
        self._sat_ms = 0
        self._prev_t = 0
        self._overruns = 0
        self.reinits = 0            # IMU restarts after a fault
        self.task_errors = 0        # exceptions caught in the board's task loops
        self._sensor_ran = clock.ticks_ms()
        # set state
        self.in_set = False
        self.set_no = 0
        self.exercise = 0
        # delivery state
        self.ev_cursor = -1        # next event seq to notify; -1 = holding after a connect
        self._hold_until = 0
        self._connect_seq = 0
        self._mtu = 23
        self._read_seq = -1         # event whose bytes the events characteristic holds for reads
        self.resp = bytearray(_RESP_SLOTS * P.RESPONSE_SIZE)
        self._resp_mv = memoryview(self.resp)
        self.resp_head = 0
        self.resp_count = 0
        self.resp_seq = 0
        self.resp_dropped = 0
        # live data: two buffers, one filling, one waiting to be sent
        self.live_rate = 0
        self.live_type = P.T_LIVE_ANGLE
        self._live = (bytearray(_LIVE_BUF), bytearray(_LIVE_BUF))
        self._live_mv = (memoryview(self._live[0]), memoryview(self._live[1]))
        self._live_fill = 0        # index of the buffer being filled
        self._live_n = 0           # samples in it
        self._live_ready = 0       # bytes waiting in the other buffer (0: none)
        self._live_cap = 0
        self._live_div = 0
        self._live_count = 0
        self._live_seq = 0
        self._live_period = 0
        self._live_size = P.LIVE_ANGLE_SAMPLE
        # wrap bookkeeping: ticks wrap at 2**30 on the ESP32, the wire counts ms modulo 2**32
        self._epoch = 0
        self._last_tick = clock.ticks_ms()
        # peripherals (all optional by config)
        self.led = None
        self._led_on = 1 if cfg["led_active_high"] else 0
        self._identify_until = 0
        self._led_lit = 0
        self.button = None
        self._btn_prev = 1
        self._btn_t = 0
        self.adc = None
        self.battery_mv = -1
        self._low_battery = False
        self._battery_at = 0
        self._setup_pins()
        self._open_imu(boot=True)
        uid = machine.unique_id()
        self.name = device_name(cfg["name_prefix"], uid)
        self.radio = Radio(ble, self.name, model=self.imu.NAME if self.imu else "none")
        self._status(P.ST_BOOT, machine.reset_cause(), self.rate_hz)
        if self.imu is None:
            self._status(P.ST_FAULT, P.FAULT_MISSING, 0)
        self.log("%s: %s at %d Hz, advertising" % (self.name, self.imu.NAME if self.imu else
                                                    "no IMU", self.rate_hz))

    # -- setup ---------------------------------------------------------------------------------
    def _setup_pins(self):
        # each one optional and on its own: a pin this board cannot do costs only that feature
        cfg = self.cfg
        Pin = machine.Pin
        if cfg["led_pin"] is not None:
            try:
                self.led = Pin(cfg["led_pin"], Pin.OUT, value=1 - self._led_on)
            except (ValueError, OSError) as exc:
                self.log("led_pin %s: %s: no status LED" % (cfg["led_pin"], exc))
        if cfg["button_pin"] is not None:
            try:
                self.button = Pin(cfg["button_pin"], Pin.IN, Pin.PULL_UP)
            except (ValueError, OSError):
                try:   # input-only GPIOs (34-39) have no pull-up: the board must have one
                    self.button = Pin(cfg["button_pin"], Pin.IN)
                except (ValueError, OSError) as exc:
                    self.log("button_pin %s: %s: no button" % (cfg["button_pin"], exc))
        if cfg["battery_adc_pin"] is not None:
            try:
                self.adc = machine.ADC(Pin(cfg["battery_adc_pin"]))
                try:
                    self.adc.atten(machine.ADC.ATTN_11DB)
                except (AttributeError, ValueError):
                    pass
            except (ValueError, OSError) as exc:
                self.log("battery_adc_pin %s: %s: no battery reading" % (cfg["battery_adc_pin"], exc))

    def _open_imu(self, boot=False):
        cfg = self.cfg
        try:
            self.imu = imu_mod.detect(self.i2c, cfg["imu"], cfg["imu_address"], self.rate_hz)
        except (OSError, ValueError) as exc:
            self.imu = None
            if boot:
                self.log("IMU: %s" % (exc,))
            return False
        imu = self.imu
        if self.det is None:
            self.det = Detector(accel_lsb_per_g=imu.accel_lsb_per_g,
                                gyro_mdps_per_lsb=imu.gyro_mdps_per_lsb, has_gyro=imu.has_gyro)
        return True

    # -- time ----------------------------------------------------------------------------------
    def now(self):
        t = self.clock.ticks_ms()
        if t < self._last_tick and self._last_tick - t > (1 << 29):
            self._epoch += 1                 # the 2**30 tick counter wrapped
        if self._epoch:
            P.set_tick_epoch(self._epoch, t)
        self._last_tick = t
        return t

    # -- the sensor path -----------------------------------------------------------------------
    def poll_sensor(self):
        """Drain the IMU FIFO and run every sample through the detector."""
        now = self.now()
        self._sensor_ran = now
        imu = self.imu
        if imu is None:
            if ticks_diff(now, self._retry_at) >= 0:
                self._retry_at = ticks_add(now, _DETECT_RETRY_MS)
                if self._open_imu():
                    self._status(P.ST_RECOVERED, P.FAULT_MISSING, 0)
            return
        if self.fault == P.FAULT_I2C:
            if ticks_diff(now, self._retry_at) < 0:
                return
            try:
                imu.init()
            except OSError:
                self._retry_at = ticks_add(now, _RETRY_MS)
                return
            self.fault = 0
            self.reinits += 1
            self._status(P.ST_RECOVERED, P.FAULT_I2C, 0)
        elif self.fault == P.FAULT_STUCK and ticks_diff(now, self._retry_at) >= 0:
            # a sensor repeating one sample may be hung: restart it (recovered when data moves)
            self._retry_at = ticks_add(now, _STUCK_RETRY_MS)
            try:
                imu.init()
                self.reinits += 1
            except OSError:
                pass
        for _ in range(8):                    # bounded: never starve the radio
            try:
                n = imu.read(self.batch)
            except OSError as exc:
                self.fault = P.FAULT_I2C
                self._retry_at = ticks_add(now, _RETRY_MS)
                self._status(P.ST_FAULT, P.FAULT_I2C, _errno(exc))
                return
            t_read = self.now()
            if imu.overruns != self._overruns:
                self._overruns = imu.overruns
                self._status(P.ST_FAULT, P.FAULT_OVERRUN, imu.overruns)
            if imu.backlog > self.max_backlog:
                self.max_backlog = imu.backlog
            if not n:
                return
            self._process(n, t_read, imu.backlog, imu.period_us)
            if imu.backlog <= n:
                return

    def _process(self, n, t_read, backlog, period_us):
        """The per-sample path: no allocation here (tested with the heap locked)."""
        b = self.batch
        det = self.det
        o = 0
        for k in range(n):
            # back-compute each sample's time from the read time and the output data rate
            t = (t_read - ((backlog - 1 - k) * period_us) // 1000) & _TICKS_MASK
            ax = _s16(b, o)
            ay = _s16(b, o + 2)
            az = _s16(b, o + 4)
            gx = _s16(b, o + 6)
            gy = _s16(b, o + 8)
            gz = _s16(b, o + 10)
            self._check_sample(t, b, o, ax, ay, az)
            flags = det.step(t, ax, ay, az, gx, gy, gz)
            if flags:
                self._on_flags(flags, t)
            if self._live_div:
                self._live_sample(t, ax, ay, az, gx, gy, gz)
            self.samples += 1
            o += 12

    def _check_sample(self, t, b, o, ax, ay, az):
        dt = ticks_diff(t, self._prev_t)
        self._prev_t = t
        if dt < 0 or dt > 100:
            dt = 0
        # (the timers are only called while something is wrong: this runs for every sample)
        same = _same_and_copy(self._last, b, o)
        if same or self._stuck_ms:
            self._stuck_ms = self._fault_timer(same, self._stuck_ms, dt, P.FAULT_STUCK)
        sat = (ax >= _SAT_HI or ax <= _SAT_LO or ay >= _SAT_HI or ay <= _SAT_LO or az >= _SAT_HI
               or az <= _SAT_LO)
        if sat or self._sat_ms:
            self._sat_ms = self._fault_timer(sat, self._sat_ms, dt, P.FAULT_SATURATED)

    def _fault_timer(self, bad, ms, dt, kind):
        """A condition that is a fault once it lasts _FAULT_HOLD_MS; returns the new duration."""
        if bad:
            ms += dt
            if ms >= _FAULT_HOLD_MS and self.fault != kind:
                self.fault = kind
                self._status(P.ST_FAULT, kind, 0)
            return ms
        if ms and self.fault == kind:
            self.fault = 0
            self._status(P.ST_RECOVERED, kind, 0)
        return 0

    def _on_flags(self, flags, t):
        det = self.det
        s = self.scratch
        ring = self.ring
        if flags & EV_REP:
            end = det.rep_t_end_ms
            n = P.pack_rep(s, ring.next_seq, end, det.rep_count,
                           ticks_diff(end, det.rep_t_start_ms),
                           ticks_diff(det.rep_t_far_ms, det.rep_t_start_ms), det.rep_hold_ms,
                           ticks_diff(end, det.rep_t_return_ms), det.rep_rom_ddeg,
                           det.rep_peak_speed_dps, det.rep_peak_accel_mg)
            ring.push(s, n)
        if flags & EV_HOLD:
            ring.push(s, P.pack_hold(s, ring.next_seq, det.hold_t_start_ms, det.hold_ms,
                                     det.hold_angle_ddeg))
        if flags & EV_ABRUPT:
            ring.push(s, P.pack_abrupt(s, ring.next_seq, det.abrupt_t_ms, det.abrupt_peak_mg,
                                       det.abrupt_jerk_gps))
        if flags & EV_ANCHOR:
            self._status(P.ST_ANCHOR, 0, 0, t)
        if flags & EV_CALIBRATED:
            self._status(P.ST_CALIBRATED, P.CAL_OK, 0, t)

    def _status(self, code, detail, value, t=-1):
        if t < 0:
            t = self.now()
        s = self.scratch
        self.ring.push(s, P.pack_status(s, self.ring.next_seq, t, code, detail, value))

    def _live_sample(self, t, ax, ay, az, gx, gy, gz):
        self._live_count += 1
        if self._live_count < self._live_div:
            return
        self._live_count = 0
        buf = self._live[self._live_fill]
        if self._live_n == 0:
            P.pack_live_header(buf, self.live_type, self._live_seq, self._live_period, t)
            self._live_seq = (self._live_seq + 1) & 0xFF
        off = P.LIVE_HEADER_SIZE + self._live_n * self._live_size
        if self.live_type == P.T_LIVE_RAW:
            P.pack_live_raw(buf, off, ax, ay, az, gx, gy, gz)
        else:
            P.pack_live_angle(buf, off, self.det.angle_ddeg, self.det.phase)
        self._live_n += 1
        if self._live_n >= self._live_cap:
            if self._live_ready:
                self.live_dropped += 1       # the radio fell behind: drop the older packet
            self._live_ready = P.LIVE_HEADER_SIZE + self._live_n * self._live_size
            self._live_fill = 1 - self._live_fill
            self._live_n = 0

    # -- the radio path --------------------------------------------------------------------------
    def service_radio(self):
        radio = self.radio
        if self._poll_hook:
            self._poll_hook()
        now = self.now()
        if radio.disconnected_flag:
            radio.disconnected_flag = False
            if radio.conn is None:
                self._set_live(0, P.LIVE_ANGLE)
                self.ev_cursor = -1
                radio.advertise()            # advertising restarts after every disconnect
        if radio.connected_flag:
            radio.connected_flag = False
            self.ev_cursor = -1              # hold events until the host says where to start
            self._connect_seq = self.ring.next_seq
            self._hold_until = ticks_add(now, _HOLD_AFTER_CONNECT_MS)
            self.resp_count = 0
        if radio.mtu != self._mtu:
            self._mtu = radio.mtu
            if self.live_rate:          # more (or fewer) live samples fit a notification now
                self._set_live(self.live_rate, P.LIVE_RAW if self.live_type == P.T_LIVE_RAW
                               else P.LIVE_ANGLE)
        while True:
            mv = radio.next_write()
            if mv is None:
                break
            self._command(mv, now)
        last = (self.ring.next_seq - 1) & 0xFFFF
        if self.ring.count and last != self._read_seq:
            # a read of the events characteristic returns the latest event
            self._read_seq = last
            radio.ble.gatts_write(radio.h_events, self.ring.view(last))
        if (self.ev_cursor < 0 and radio.conn is not None
                and ticks_diff(now, self._hold_until) >= 0):
            self.ev_cursor = self._connect_seq
        self._pump()
        if self.led is not None:
            self.led_step(now)

    def _pump(self):
        radio = self.radio
        if radio.conn is None:
            return
        sent = 0
        while self.resp_count and sent < _EVENTS_PER_TICK:
            o = self.resp_head * P.RESPONSE_SIZE
            if not radio.notify(radio.h_control, self._resp_mv[o:o + P.RESPONSE_SIZE]):
                return
            self.resp_head = (self.resp_head + 1) % _RESP_SLOTS
            self.resp_count -= 1
            sent += 1
        ring = self.ring
        while self.ev_cursor >= 0 and self.ev_cursor != ring.next_seq and sent < _EVENTS_PER_TICK:
            if not ring.has(self.ev_cursor):
                self.ev_cursor = ring.oldest()   # overwritten while the host was away
            if not radio.notify(radio.h_events, ring.view(self.ev_cursor)):
                return
            self.ev_cursor = (self.ev_cursor + 1) & 0xFFFF
            self.events_sent += 1
            sent += 1
        if self._live_ready and sent < _NOTIFY_PER_TICK:
            other = 1 - self._live_fill
            if radio.notify(radio.h_live, self._live_mv[other][:self._live_ready]):
                self._live_ready = 0
                self.live_sent += 1

    def _respond(self, cmd, token, status, value, now):
        if self.resp_count >= _RESP_SLOTS:
            self.resp_dropped += 1
            return
        i = (self.resp_head + self.resp_count) % _RESP_SLOTS
        if value >= 0x80000000:
            value -= 0x100000000
        P.pack_response(self._resp_mv[i * P.RESPONSE_SIZE:], self.resp_seq, now, cmd, token,
                        status, value)
        self.resp_seq = (self.resp_seq + 1) & 0xFFFF
        self.resp_count += 1

    def _command(self, data, now):
        self.commands += 1
        cmd = data[1] if len(data) > 1 else 0
        token = data[2] if len(data) > 2 else 0
        try:
            c = P.decode_command(data)
        except P.ProtocolError as exc:
            self.command_errors += 1
            value = 0
            if exc.status == P.E_LENGTH:
                value = len(data)
            elif exc.status == P.E_VERSION:
                value = P.VERSION
            self._respond(cmd, token, exc.status, value, now)
            if self.ev_cursor < 0:
                self.ev_cursor = self._connect_seq
            return
        if cmd != P.CMD_REPLAY and self.ev_cursor < 0:
            self.ev_cursor = self._connect_seq
        status, value = self._execute(cmd, c, now)
        if status:
            self.command_errors += 1
        self._respond(cmd, token, status, value, now)

    def _execute(self, cmd, c, now):
        if cmd == P.CMD_SELECT or cmd == P.CMD_PARAMS:
            return self._set_params(c)
        if cmd == P.CMD_REPLAY:
            return self._replay(c["from_seq"])
        if cmd == P.CMD_LIVE:
            return P.OK, self._set_live(c["rate_hz"], c["content"])
        if cmd == P.CMD_IDENTIFY:
            self._identify_until = ticks_add(now, c["seconds"] * 1000)
            return P.OK, c["seconds"]
        if cmd == P.CMD_GET:
            return P.OK, self._get(c["key"])
        if cmd == P.CMD_TIME_SYNC:
            return P.OK, c["host_ms"]
        if cmd == P.CMD_START:
            if self.in_set:
                return P.E_STATE, 0
            if self.imu is None or self.fault == P.FAULT_I2C:
                return P.E_SENSOR, self.fault or P.FAULT_MISSING
            self.start_set()
            return P.OK, self.set_no
        if cmd == P.CMD_STOP:
            if not self.in_set:
                return P.E_STATE, 0
            return P.OK, self.stop_set()
        if cmd == P.CMD_CALIBRATE:
            if self.in_set:
                return P.E_STATE, 0
            if self.det is None:
                return P.E_SENSOR, P.FAULT_MISSING
            self.det.recalibrate()
            return P.OK, 0
        return P.E_UNKNOWN, 0

    def _set_params(self, c):
        # all or nothing: check every pair before applying any
        for pid, value in c["params"]:
            row = None
            for p in PARAMS:
                if p[0] == pid:
                    row = p
            if row is None:
                return P.E_PARAM, pid
            if value < row[3] or value > row[4]:
                return P.E_VALUE, pid
        if self.det is None:
            return P.E_SENSOR, P.FAULT_MISSING
        for pid, value in c["params"]:
            self.det.set_param_id(pid, value)
        if "exercise" in c:
            self.exercise = c["exercise"]
        return P.OK, len(c["params"])

    def _replay(self, from_seq):
        ring = self.ring
        if from_seq == ring.next_seq or ring.has(from_seq):
            self.ev_cursor = from_seq
            return P.OK, ring.behind(from_seq)
        if ring.is_future(from_seq):
            if self.ev_cursor < 0:
                self.ev_cursor = self._connect_seq
            return P.E_RANGE, ring.next_seq
        self.ev_cursor = ring.oldest()
        return P.E_PARTIAL, ring.oldest()

    def _set_live(self, rate_hz, content):
        self.live_rate = rate_hz
        self.live_type = P.T_LIVE_RAW if content == P.LIVE_RAW else P.T_LIVE_ANGLE
        self._live_size = P.LIVE_RAW_SAMPLE if content == P.LIVE_RAW else P.LIVE_ANGLE_SAMPLE
        self._live_n = 0
        self._live_ready = 0
        self._live_count = 0
        if not rate_hz:
            self._live_div = 0
            return 0
        div = self.rate_hz // rate_hz
        self._live_div = div if div > 0 else 1
        self._live_period = 1000 * self._live_div // self.rate_hz
        cap = P.live_capacity(self.radio.payload(), self.live_type)
        # at most ~100 ms of samples per notification: live data must feel live
        most = rate_hz // 10 if rate_hz >= 10 else 1
        self._live_cap = cap if cap < most else most
        if self._live_cap < 1:
            self._live_cap = 1
        return self._live_cap

    def _get(self, key):
        imu = self.imu
        if key == P.GET_ACCEL_LSB_PER_G:
            return imu.accel_lsb_per_g if imu else 0
        if key == P.GET_GYRO_MDPS_PER_LSB:
            return int(imu.gyro_mdps_per_lsb * 1000 + 0.5) if imu else 0
        if key == P.GET_IMU:
            return IMU_IDS.get(imu.NAME, 0) if imu else 0
        if key == P.GET_RATE_HZ:
            return self.rate_hz
        if key == P.GET_FW_VERSION:
            return _FW_VERSION
        if key == P.GET_EVENT_HEAD:
            return self.ring.next_seq
        if key == P.GET_BATTERY_MV:
            return self.battery_mv
        return 1 if (imu and imu.has_gyro) else 0

    # -- sets ----------------------------------------------------------------------------------
    def start_set(self):
        self.in_set = True
        self.set_no += 1
        self.det.reset_reps()
        self._status(P.ST_SET_STARTED, self.exercise, self.set_no)

    def stop_set(self):
        self.in_set = False
        reps = self.det.rep_count
        self._status(P.ST_SET_STOPPED, self.exercise, reps)
        return reps

    # -- housekeeping: LED, button, battery, watchdog ------------------------------------------
    def led_step(self, now):
        """The status LED's pattern, from the clock alone (no sleeps: the sensor loop never
        waits on it). Every 20 ms so a 50 ms flash is possible; writes the pin only on a change."""
        if ticks_diff(self._identify_until, now) > 0:
            on = (now // 100) & 1          # identify: 5 Hz blink
        elif self.radio.conn is not None:
            # a steady LED would draw ~4 mA for the whole session: a short flash is enough
            on = 1 if now % _LED_CONNECTED_PERIOD_MS < _LED_FLASH_MS else 0
        elif self.fault:
            on = (now // 250) & 1
        else:
            on = 1 if now % 1000 < 100 else 0
        if on != self._led_lit:
            self._led_lit = on
            self.led.value(self._led_on if on else 1 - self._led_on)

    def housekeeping(self):
        now = self.now()
        if self.wdt is not None and ticks_diff(now, self._sensor_ran) < _SENSOR_STALL_MS:
            # fed only while the sensor loop runs: if it died, the watchdog restarts the board
            self.wdt.feed()
        if self.button is not None:
            v = self.button.value()
            if v != self._btn_prev and ticks_diff(now, self._btn_t) >= _BUTTON_DEBOUNCE_MS:
                self._btn_prev = v
                self._btn_t = now
                if v == 0 and self.det is not None:     # pressed (pulled up, active low)
                    if self.in_set:
                        self.stop_set()
                    else:
                        self.start_set()
        if self.adc is not None and ticks_diff(now, self._battery_at) >= 0:
            self._battery_at = ticks_add(now, _BATTERY_MS)
            self._read_battery()

    def _read_battery(self):
        try:
            uv = self.adc.read_uv()
        except (AttributeError, OSError):
            uv = self.adc.read_u16() * 3100000 // 65535
        mv = int(uv * self.cfg["battery_divider"] / 1000)
        if mv < 1000:            # no battery on this pin (USB powered, floating input)
            self.battery_mv = -1
            return
        self.battery_mv = mv
        pct = (mv - 3300) * 100 // 900
        self.radio.set_battery(0 if pct < 0 else (100 if pct > 100 else pct))
        if mv < _LOW_BATTERY_MV and not self._low_battery:
            self._low_battery = True
            self._status(P.ST_LOW_BATTERY, 0, mv)
        elif mv >= _LOW_BATTERY_MV + 100:
            self._low_battery = False

    # -- drivers -------------------------------------------------------------------------------
    def tick(self):
        """One 20 ms step: sensor, radio, and every 5th tick housekeeping."""
        self.poll_sensor()
        self.service_radio()
        if self.ticks % 5 == 0:
            self.housekeeping()
        self.ticks += 1
        if self._pace_hook:
            self._pace_hook(self.clock.ticks_ms())

    async def _every(self, fn, period_ms):
        import asyncio
        clock = self.clock
        while True:
            t0 = clock.ticks_ms()
            try:
                fn()
            except Exception as exc:      # a bug must not end the task silently
                self.task_errors += 1
                if self.task_errors < 20:
                    self.log("task error: %r" % (exc,))
            left = period_ms - clock.ticks_diff(clock.ticks_ms(), t0)
            await asyncio.sleep_ms(left if left > 0 else 0)

    async def run(self):
        """Run on a board: three tasks sharing the asyncio loop."""
        import asyncio
        await asyncio.gather(self._every(self.poll_sensor, _TICK_MS),
                             self._every(self.service_radio, _TICK_MS),
                             self._every(self.housekeeping, 5 * _TICK_MS))


def main(config_path="config.json"):
    """Device entry point (firmware/main.py): build everything from config.json and run."""
    import time
    import asyncio
    import bluetooth
    import sys
    from sbdev import config
    cfg = config.load(config_path)
    if cfg.get("power_hold_pin") is not None:
        # first thing: some boards (M5StickC Plus2) switch off unless this pin is held high
        machine.Pin(cfg["power_hold_pin"], machine.Pin.OUT, value=1)
    # only needed at boot: forget it so its code can be freed
    sys.modules.pop("sbdev.config", None)
    pkg = sys.modules.get("sbdev")
    if pkg is not None and "config" in pkg.__dict__:
        delattr(pkg, "config")
    wdt = machine.WDT(timeout=8000)
    c = cfg["i2c"]
    i2c = machine.I2C(c["id"], scl=machine.Pin(c["scl"]), sda=machine.Pin(c["sda"]), freq=c["freq"])
    app = App(cfg, i2c, time, bluetooth.BLE(), wdt=wdt)
    asyncio.run(app.run())
