#!/usr/bin/env python3
"""tests/fuzz/regressions/make-regressions.py: writes the reproducers of the
crashes and blow-ups of issue 14, each the smallest input that showed one.
Plain Python (struct, json): run it here to regenerate them; the files are
committed, and tests/80-hardening.bats runs every tool on each."""
import json, os, struct

here = os.path.dirname(os.path.abspath(__file__))
tiny = open(os.path.join(here, '..', '..', '..', 'configs', 'tiny.ini')).read()

def ini(name, key, value):
    lines = []
    for line in tiny.splitlines():
        if line.split('=')[0].strip() == key:
            line = '%s = %s' % (key, value)
        lines.append(line)
    open(os.path.join(here, name), 'w').write('\n'.join(lines) + '\n')

def snt(name, header, payload):
    text = header
    while (8 + len(text)) % 64:
        text += '\n'
    open(os.path.join(here, name), 'wb').write(b'SNT1' + struct.pack('<I', len(text)) + text.encode() + payload)

def safetensors(name, config_text, tensors):
    header = {'__metadata__': {'format': 'sepnet', 'config': config_text}}
    data, off = b'', 0
    for tname, shape, values in tensors:
        raw = struct.pack('<%df' % len(values), *values)
        header[tname] = {'dtype': 'F32', 'shape': shape, 'data_offsets': [off, off + len(raw)]}
        data += raw
        off += len(raw)
    h = json.dumps(header).encode()
    open(os.path.join(here, name), 'wb').write(struct.pack('<Q', len(h)) + h + data)

# 1. musdb-cat: segment_length 2^60 overflowed 2 * L into a heap write
ini('segment-2e60.ini', 'segment_length', 2**60)
# 5. n_fft 2^30 overflowed the model's sizes; gradient_accum 2^31-1 the step size
ini('n-fft-2e30.ini', 'n_fft', 2**30)
ini('accum-2e31.ini', 'gradient_accum', 2**31 - 1)
# 2. a 4 KB checkpoint whose config asks for 10^8 layers, and one within
#    every key's limit whose tensors do not make its model
text = tiny.replace('n_layers = 2', 'n_layers = 100000000')
safetensors('layers-1e8.safetensors', text, [('in.bias', [4], [0.0] * 4)])
safetensors('layers-200-few-tensors.safetensors', tiny.replace('n_layers = 2', 'n_layers = 200'),
            [('in.bias', [4], [0.0] * 4)])
# 3. an .au header declaring 514 channels and 970 MB of samples, holding none
open(os.path.join(here, 'au-514-channels-no-data.au'), 'wb').write(
    struct.pack('>4sIIIII', b'.snd', 24, 970000000, 3, 44100, 514) + b'\0' * 51)
# (au-594-channels-downmix.au is a libFuzzer finding, kept as it was found:
# 594 channels through the channel map, which indexed a 64-entry table)
# 4. NaN and infinity in a waveform and a spectrogram
nan, inf = struct.pack('<f', float('nan')), struct.pack('<f', float('inf'))
snt('waveform-nan.snt', 'dtype=f32\nshape=2,4000\nsr=44100\n', b'\0' * 400 + nan + b'\0' * (32000 - 404))
snt('spectrogram-inf.snt', 'dtype=c64\nshape=2,257,4\nsr=44100\nn_fft=512\nhop=128\nwindow=hann\ncenter=1\nlength=400\n',
    b'\0' * 808 + inf + b'\0' * (2 * 257 * 4 * 8 - 812))
# 7. sample rates of 0 and below, lengths that no frame count fits
snt('waveform-sr-0.snt', 'dtype=f32\nshape=2,4000\nsr=0\n', b'\0' * 32000)
snt('waveform-sr-negative.snt', 'dtype=f32\nshape=2,4000\nsr=-44100\n', b'\0' * 32000)
snt('spectrogram-length-2e40.snt', 'dtype=c64\nshape=2,257,4\nsr=44100\nn_fft=512\nhop=128\nwindow=hann\ncenter=1\nlength=1099511627776\n',
    b'\0' * (2 * 257 * 4 * 8))
snt('spectrogram-length-negative.snt', 'dtype=c64\nshape=2,257,4\nsr=44100\nn_fft=512\nhop=128\nwindow=hann\ncenter=1\nlength=-5\n',
    b'\0' * (2 * 257 * 4 * 8))
