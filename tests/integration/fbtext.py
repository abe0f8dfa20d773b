"""Finding text in screenshots of the fbecho guest (guests/fbecho.c).

The guest draws 8x16 glyphs of the kbd console font, white (0xFFFFFF) on
black, in cells at pixel (col * 8, row * 16). This module renders the same
glyphs from the same font file (parsed by guests/psf2c.py, which also
generates the guest's table) and compares them with a PIL image, e.g. a
QEMU screendump (lossless) or a VNC snapshot (JPEG: hence the threshold
and the tolerance).

    font = load_psf(FONT)
    img = PIL.Image.open("shot.jpg")
    assert find_text(img, "vsb fbecho ready", 0, 0, font)
"""
import importlib.util
import os

FONT = "/usr/share/consolefonts/Lat15-Fixed16.psf.gz"  # what guests.mk uses
CELL_W, CELL_H = 8, 16

_TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _psf2c():
    spec = importlib.util.spec_from_file_location(
        "psf2c", os.path.join(_TOP, "guests", "psf2c.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_psf = _psf2c()


def load_psf(path=FONT):
    """The guest's glyph table for a PSF1/PSF2 font: a list of 256 bytes
    objects (16 rows each, bit 7 = leftmost pixel) indexed by Latin-1 code
    point, exactly as psf2c.py writes it into font.h."""
    return _psf.latin1_table(_psf.load_psf(path))


def render_text(text, font):
    """One line of text as a list of rows (16) of booleans (8 per
    character); True = foreground."""
    rows = []
    for y in range(CELL_H):
        row = []
        for ch in text:
            bits = font[ord(ch) & 0xFF][y]
            row.extend(bool(bits & (0x80 >> x)) for x in range(CELL_W))
        rows.append(row)
    return rows


def _cell_bits(px, width, height, x, y, threshold):
    """The cell at (x, y) as 16 row bytes like a glyph (bit 7 = leftmost;
    set = foreground), or None if it is not wholly inside the image."""
    if x < 0 or y < 0 or x + CELL_W > width or y + CELL_H > height:
        return None
    rows = []
    for j in range(CELL_H):
        b = 0
        for i in range(CELL_W):
            if max(px[x + i, y + j]) >= threshold:
                b |= 0x80 >> i
        rows.append(b)
    return rows


def _distance(a, b):
    return sum(bin(p ^ q).count("1") for p, q in zip(a, b))


def _cells(image, text, x, y, font, threshold):
    """Per character: (pixels that differ from its glyph, pixels that
    differ from the closest glyph with another bitmap); None for a cell
    off the image."""
    img = image.convert("RGB")
    width, height = img.size
    px = img.load()
    out = []
    for k, ch in enumerate(text):
        cell = _cell_bits(px, width, height, x + k * CELL_W, y, threshold)
        if cell is None:
            out.append(None)
            continue
        want = font[ord(ch) & 0xFF]
        others = [_distance(cell, g) for g in font if g != want]
        out.append((_distance(cell, want), min(others, default=CELL_W * CELL_H)))
    return out


def match_ratio(image, text, x, y, font, threshold=128):
    """The worst character cell's fraction of pixels at (x, y) that agree
    with the rendering: foreground where the glyph bit is set, background
    elsewhere. A pixel is foreground if its brightest channel is at least
    threshold; a cell not wholly inside the image scores 0. 1.0 for ""."""
    worst = 1.0
    for c in _cells(image, text, x, y, font, threshold):
        r = 0.0 if c is None else 1 - c[0] / (CELL_W * CELL_H)
        worst = min(worst, r)
    return worst


def find_text(image, text, x, y, font, threshold=128, min_ratio=0.97):
    """True if text is drawn at pixel (x, y) of the PIL image. Each
    character cell must match its glyph in at least min_ratio of its 128
    pixels (JPEG ringing flips a few) and match no other glyph better:
    some pairs in the font differ in only 2-3 pixels (h/n, i/l, ,/.), which
    the ratio alone would let through. Checked per cell so one wrong
    character in a long string is not averaged away."""
    limit = (1 - min_ratio) * CELL_W * CELL_H
    for c in _cells(image, text, x, y, font, threshold):
        if c is None or c[0] > limit or c[1] < c[0]:
            return False
    return True


def locate_text(image, text, font, threshold=128):
    """Where text is drawn on a text-cell grid (fbcon's: cells at multiples
    of 8x16 from the top-left corner), as (col, row), or None. The image is
    thresholded into glyph-like cell bytes once; each cell is then compared
    exactly (a lossless screenshot is assumed) before the full find_text
    check confirms a candidate."""
    img = image.convert("L")
    width, height = img.size
    data = img.tobytes()
    cols, rows = width // CELL_W, height // CELL_H

    def cell(col, row):
        out = []
        for j in range(CELL_H):
            base = (row * CELL_H + j) * width + col * CELL_W
            b = 0
            for i in range(CELL_W):
                if data[base + i] >= threshold:
                    b |= 0x80 >> i
            out.append(b)
        return out

    want = [list(font[ord(ch) & 0xFF]) for ch in text]
    for row in range(rows):
        line = None
        for col in range(cols - len(text) + 1):
            if line is None:
                line = [cell(c, row) for c in range(cols)]
            if all(line[col + k] == want[k] for k in range(len(text))):
                if find_text(image, text, col * CELL_W, row * CELL_H, font, threshold):
                    return col, row
    return None
