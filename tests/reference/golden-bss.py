#!/usr/bin/env python3
"""golden-bss.py: BSSEval v4 golden values from museval (and mir_eval).

The test signals come from the C unit test (test_metrics --dump-bss-cases),
so museval sees exactly the samples that test_metrics feeds lib/bsseval.c.
For every case this writes tests/golden/bss-CASE.txt with one line per
window and source: "window source SDR ISR SIR SAR" from

    museval.evaluate(references, estimates, win, hop, mode='v4')

(references and estimates as (nsrc, nsampl, nchan) float32, as museval reads
WAV files), and for the one-window case "whole" also
tests/golden/bss-whole-mir_eval.txt from
mir_eval.separation.bss_eval_images(..., compute_permutation=False), which
must agree with museval there (checked here, 0.01 dB).

museval and mir_eval are not Debian packages: run this with a Python that
has them, e.g.
    python3 -m venv --system-site-packages /tmp/venv
    /tmp/venv/bin/pip install museval mir_eval
    OBJDIR=build /tmp/venv/bin/python3 tests/reference/golden-bss.py
Without them it says so and leaves the committed files alone (exit 0), so
`make golden` still regenerates the other golden data.
"""
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

try:
    try:
        import museval
    except RuntimeError:
        # museval imports musdb, whose stempeg refuses to load without
        # ffmpeg; evaluate() needs neither, so stand in an empty stempeg
        import types
        for m in [m for m in sys.modules if m.split(".")[0] in ("museval", "musdb", "stempeg")]:
            del sys.modules[m]
        sys.modules["stempeg"] = types.ModuleType("stempeg")
        import museval
except ImportError:
    print("golden-bss.py: museval is not importable (pip install museval mir_eval); "
          "keeping tests/golden/bss-*", file=sys.stderr)
    sys.exit(0)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OBJDIR = os.environ.get("OBJDIR", "build")
TEST = os.path.join(ROOT, OBJDIR, "tests", "test_metrics")
GOLDEN = os.path.join(ROOT, "tests", "golden")


def write(path, header, values):
    """values: (4, nsrc, nwin) in the order SDR ISR SIR SAR"""
    _, nsrc, nwin = values.shape
    with open(path, "w") as f:
        for line in header:
            f.write("# " + line + "\n")
        f.write("# window source SDR ISR SIR SAR\n")
        for t in range(nwin):
            for j in range(nsrc):
                f.write("%d %d %s\n" % (t, j, " ".join(repr(float(values[m, j, t])) for m in range(4))))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cases = subprocess.run([TEST, "--dump-bss-cases", tmp], check=True,
                               capture_output=True, text=True).stdout.splitlines()
        for line in cases:
            name, nsrc, nchan, n, win, hop, about = line.split(" ", 6)
            nsrc, nchan, n, win, hop = int(nsrc), int(nchan), int(n), int(win), int(hop)
            raw = np.fromfile(os.path.join(tmp, name + ".f32"), dtype=np.float32)
            ref, est = raw.reshape(2, nsrc, nchan, n).transpose(0, 1, 3, 2)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                v = np.array(museval.evaluate(ref, est, win=win, hop=hop, mode="v4"))
            header = ["case %s: %s" % (name, about),
                      "%d sources, %d channels, %d samples, win %d, hop %d" % (nsrc, nchan, n, win, hop),
                      "museval %s: museval.evaluate(ref, est, win, hop, mode='v4')" % museval.version._version]
            write(os.path.join(GOLDEN, "bss-%s.txt" % name), header, v)
            print("bss-%s.txt: %d windows, SDR median %s" % (name, v.shape[2], np.nanmedian(v[0], axis=1)))
            if name == "whole":
                import mir_eval
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sdr, isr, sir, sar, _ = mir_eval.separation.bss_eval_images(
                        ref, est, compute_permutation=False)
                m = np.array([sdr, isr, sir, sar])[:, :, None]
                diff = np.max(np.abs(m - v))
                if not diff <= 0.01:
                    sys.exit("golden-bss.py: mir_eval and museval differ by %g dB on one window" % diff)
                header[2] = ("mir_eval %s: mir_eval.separation.bss_eval_images(ref, est, "
                             "compute_permutation=False); museval differs by %.2g dB" % (mir_eval.__version__, diff))
                write(os.path.join(GOLDEN, "bss-%s-mir_eval.txt" % name), header, m)
                print("bss-%s-mir_eval.txt: mir_eval = museval within %.2g dB" % (name, diff))


if __name__ == "__main__":
    main()
