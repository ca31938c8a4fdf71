"""Ring buffer of the last events, kept as ready-to-send packets under their sequence numbers.

    ring = EventRing(256)
    ring.push(scratch, n)          # copies; the packet already holds ring.next_seq
    ring.has(seq); ring.view(seq)  # replay after a reconnect

Sequence numbers are 16-bit and wrap; 65536 is a multiple of the ring size, so slot = seq % size.
Storage is in chunks of 32 slots: a fragmented 56 KB heap rarely has 5 KB in one piece.
"""
try:
    import micropython
    from micropython import const
except ImportError:
    from sbcore.compat import micropython, const

SLOT = const(20)
_CHUNK = const(32)


@micropython.native
def _copy(dst, doff, src, n):
    for i in range(n):
        dst[doff + i] = src[i]


class EventRing:
    def __init__(self, size=256):
        if size % _CHUNK or 65536 % size:
            raise ValueError("ring size %d must be a multiple of %d dividing 65536" % (size, _CHUNK))
        self.size = size
        self.chunks = [bytearray(_CHUNK * SLOT) for _ in range(size // _CHUNK)]
        self._mvs = [memoryview(c) for c in self.chunks]
        self.lens = bytearray(size)
        self.next_seq = 0
        self.count = 0

    def push(self, src, n):
        i = self.next_seq % self.size
        _copy(self.chunks[i // _CHUNK], (i % _CHUNK) * SLOT, src, n)
        self.lens[i] = n
        self.next_seq = (self.next_seq + 1) & 0xFFFF
        if self.count < self.size:
            self.count += 1

    def oldest(self):
        return (self.next_seq - self.count) & 0xFFFF

    def has(self, seq):
        d = (self.next_seq - seq) & 0xFFFF
        return 0 < d <= self.count

    def behind(self, seq):
        """Events from seq (inclusive) to the newest; 0 if seq is next_seq."""
        return (self.next_seq - seq) & 0xFFFF

    def is_future(self, seq):
        """seq was never issued (ahead of next_seq, e.g. the host remembers a previous boot)."""
        d = (seq - self.next_seq) & 0xFFFF
        return 0 < d < 32768

    def view(self, seq):
        i = seq % self.size
        o = (i % _CHUNK) * SLOT
        return self._mvs[i // _CHUNK][o:o + self.lens[i]]
