#!/usr/bin/env python3
"""snt.py: read and write SNT tensor streams (man 5 snt) with numpy.

    import snt
    for header, x in snt.read(open('song.snt', 'rb')):
        print(header['track'], x.dtype, x.shape)    # complex64 (2, 2049, 130)
    snt.write(sys.stdout.buffer, x, **header)       # the same record back

A record is a header dict (keys in stream order, values as strings) and a
numpy array: f32 float32, f16 float16, bf16 float32 (numpy has no bfloat16),
s16 int16, s32 int32, u8 uint8, c64 complex64.  The reader trusts its input
beyond the magic and the length; `snt-info` checks a stream completely.

    python3 snt.py [FILE ...]   prints each record's header and shape
"""
import sys

import numpy as np

DTYPES = {'f32': '<f4', 'f16': '<f2', 'bf16': '<u2', 's16': '<i2',
          's32': '<i4', 'u8': 'u1', 'c64': '<c8'}


def read(f):
    """Yield (header, array) for each record of the binary file f."""
    while pre := f.read(8):
        if len(pre) < 8 or pre[:4] != b'SNT1':
            raise ValueError('not an SNT record')
        text = f.read(int.from_bytes(pre[4:], 'little')).decode()
        header = dict(line.split('=', 1) for line in text.split('\n') if line)
        shape = [int(d) for d in header['shape'].split(',') if d]
        dtype = np.dtype(DTYPES[header['dtype']])
        count = int(np.prod(shape))
        x = np.frombuffer(f.read(count * dtype.itemsize), dtype)
        if x.size < count:
            raise EOFError('stream ends inside a record')
        if header['dtype'] == 'bf16':   # the high half of a float32
            x = (x.astype(np.uint32) << 16).view(np.float32)
        yield header, x.reshape(shape)


def tracks(f):
    """Yield (header, array) per track: read's records, with a chunked
    track's chunks (chunk=, offset=, last=1: snt(5)) joined along the last
    axis and those keys dropped."""
    parts = []
    for header, x in read(f):
        if 'chunk' not in header:
            if parts:
                raise ValueError('a chunked track ends before its last chunk')
            yield header, x
            continue
        parts.append((header, x))
        if header.get('last') == '1':
            first = {k: v for k, v in parts[0][0].items()
                     if k not in ('chunk', 'offset', 'total', 'last')}
            y = np.concatenate([p[1] for p in parts], axis=-1)
            first['shape'] = ','.join(map(str, y.shape))
            yield first, y
            parts = []
    if parts:
        raise EOFError('stream ends inside a chunked track')


def write(f, x, dtype=None, **keys):
    """Write array x as one record with the given keys, in order.

    dtype (an SNT name) defaults to x's own; float64 becomes f32 and
    complex128 c64.  A 'shape' among keys is ignored: x's shape is used."""
    x = np.asarray(x)
    if dtype is None:
        names = {np.dtype(v): k for k, v in DTYPES.items() if k != 'bf16'}
        dtype = names.get(x.dtype.newbyteorder('<')) \
            or {'f': 'f32', 'c': 'c64'}.get(x.dtype.kind)
        if dtype is None:
            raise ValueError(f'no SNT dtype for {x.dtype}: pass dtype=')
    if dtype == 'bf16':                 # round float32 to nearest even
        u = np.ascontiguousarray(x, '<f4').view('<u4').astype(np.uint64)
        bf = (u + 0x7fff + (u >> 16 & 1)) >> 16
        payload = np.where(np.isnan(x), 0x7fc0, bf).astype('<u2')
    else:
        payload = np.ascontiguousarray(x, DTYPES[dtype])
    keys.pop('shape', None)
    lines = [f'dtype={dtype}', 'shape=' + ','.join(map(str, x.shape))]
    lines += [f'{k}={v}' for k, v in keys.items()]
    text = ''.join(line + '\n' for line in lines).encode()
    text += b'\n' * (-(8 + len(text)) % 64)     # pad 8 + H to 64 bytes
    f.write(b'SNT1' + len(text).to_bytes(4, 'little') + text)
    f.write(payload.tobytes())


def main(names):
    for name in names or ['-']:
        f = sys.stdin.buffer if name == '-' else open(name, 'rb')
        for i, (header, x) in enumerate(read(f)):
            keys = ' '.join(f'{k}={v}' for k, v in header.items())
            print(f'{name}: record {i}: {keys}: {x.dtype} {x.shape}')


if __name__ == '__main__':
    main(sys.argv[1:])
