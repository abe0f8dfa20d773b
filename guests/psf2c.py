#!/usr/bin/env python3
"""Turns a Linux console font (PSF1 or PSF2, optionally gzipped) into a C
header for the fbecho guest: 256 glyphs of 8x16 pixels, 16 bytes each (one
byte per pixel row, bit 7 = leftmost pixel), indexed by Latin-1 code point.

    psf2c.py FONT.psf[.gz] OUT.h

Font data is generated at build time from the kbd package's fonts and never
committed. When the font has a Unicode table, code point c (U+0000..U+00FF)
gets the glyph the table maps to c; otherwise glyph c. Code points the font
does not cover get the glyph of U+FFFD (or '?') if they are printable and a
blank glyph if they are control characters (C0, DEL, C1).

tests/integration/fbtext.py imports load_psf and latin1_table from here, so
the tests render text with exactly the glyphs the guest draws.
Python 3 standard library only."""
import gzip
import os
import struct
import sys

PSF1_MAGIC = b"\x36\x04"
PSF1_MODE512 = 0x01
PSF1_MODEHASTAB = 0x02
PSF1_MODESEQ = 0x04
PSF1_SEPARATOR = 0xFFFF
PSF1_STARTSEQ = 0xFFFE

PSF2_MAGIC = 0x864AB572
PSF2_HAS_UNICODE_TABLE = 0x01
PSF2_SEPARATOR = 0xFF
PSF2_STARTSEQ = 0xFE

WIDTH, HEIGHT = 8, 16


class PsfError(Exception):
    pass


class Font:
    """glyphs: list of bytes (bytes_per_row * height each); unicode: dict
    code point -> glyph index (single code points only), empty if the font
    has no table."""

    def __init__(self, width, height, glyphs, unicode):
        self.width = width
        self.height = height
        self.glyphs = glyphs
        self.unicode = unicode


def _read(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data


def _psf1(data):
    mode, charsize = data[2], data[3]
    count = 512 if mode & PSF1_MODE512 else 256
    off = 4
    end = off + count * charsize
    if len(data) < end:
        raise PsfError("PSF1: truncated glyph data")
    glyphs = [data[off + i * charsize:off + (i + 1) * charsize]
              for i in range(count)]
    uni = {}
    if mode & (PSF1_MODEHASTAB | PSF1_MODESEQ):
        pos = end
        for g in range(count):
            in_seq = False
            while True:
                if pos + 2 > len(data):
                    raise PsfError("PSF1: truncated unicode table")
                (u,) = struct.unpack_from("<H", data, pos)
                pos += 2
                if u == PSF1_SEPARATOR:
                    break
                if u == PSF1_STARTSEQ:
                    in_seq = True  # the rest of this entry are sequences
                elif not in_seq:
                    uni.setdefault(u, g)
    return Font(8, charsize, glyphs, uni)


def _utf8_decode_one(data, pos):
    b = data[pos]
    if b < 0x80:
        return b, pos + 1
    n = 1 if b >> 5 == 0b110 else 2 if b >> 4 == 0b1110 else 3
    cp = b & (0x3F >> n)
    for i in range(1, n + 1):
        if pos + i >= len(data):
            raise PsfError("PSF2: truncated UTF-8 in unicode table")
        cp = cp << 6 | (data[pos + i] & 0x3F)
    return cp, pos + n + 1


def _psf2(data):
    if len(data) < 32:
        raise PsfError("PSF2: truncated header")
    (_, _, hsize, flags, count, charsize, height,
     width) = struct.unpack_from("<8I", data, 0)
    rowbytes = (width + 7) // 8
    if charsize != rowbytes * height:
        raise PsfError("PSF2: charsize %d does not match %dx%d" %
                       (charsize, width, height))
    end = hsize + count * charsize
    if len(data) < end:
        raise PsfError("PSF2: truncated glyph data")
    glyphs = [data[hsize + i * charsize:hsize + (i + 1) * charsize]
              for i in range(count)]
    uni = {}
    if flags & PSF2_HAS_UNICODE_TABLE:
        pos = end
        for g in range(count):
            in_seq = False
            while True:
                if pos >= len(data):
                    raise PsfError("PSF2: truncated unicode table")
                b = data[pos]
                if b == PSF2_SEPARATOR:
                    pos += 1
                    break
                if b == PSF2_STARTSEQ:
                    pos += 1
                    in_seq = True
                    continue
                cp, pos = _utf8_decode_one(data, pos)
                if not in_seq:
                    uni.setdefault(cp, g)
    return Font(width, height, glyphs, uni)


def load_psf(path):
    """Parses a PSF1 or PSF2 file (gzipped or not) into a Font."""
    data = _read(path)
    if data[:2] == PSF1_MAGIC:
        return _psf1(data)
    if len(data) >= 4 and struct.unpack_from("<I", data, 0)[0] == PSF2_MAGIC:
        return _psf2(data)
    raise PsfError("%s: not a PSF1 or PSF2 font" % path)


def _is_control(cp):
    return cp < 0x20 or 0x7F <= cp < 0xA0


def latin1_table(font):
    """256 glyphs (bytes of font.height rows, one byte per row) indexed by
    code point U+0000..U+00FF. Needs an 8-pixel-wide font."""
    if font.width != WIDTH:
        raise PsfError("font is %d pixels wide, need %d" % (font.width, WIDTH))
    blank = bytes(font.height)
    if font.unicode:
        fallback = font.unicode.get(0xFFFD, font.unicode.get(ord("?")))
    else:
        fallback = None
    table = []
    for cp in range(256):
        if font.unicode:
            g = font.unicode.get(cp)
        else:
            g = cp if cp < len(font.glyphs) else None
        if g is None and not _is_control(cp):
            g = fallback
        table.append(font.glyphs[g] if g is not None else blank)
    return table


def to_c(table, src):
    out = ["/* Generated by guests/psf2c.py from %s: do not edit. */" % src,
           "#ifndef GUEST_FONT_H",
           "#define GUEST_FONT_H",
           "",
           "#include <stdint.h>",
           "",
           "#define FONT_WIDTH %d" % WIDTH,
           "#define FONT_HEIGHT %d" % HEIGHT,
           "",
           "/* Indexed by Latin-1 code point; byte r is pixel row r, "
           "bit 7 the leftmost pixel. */",
           "static const uint8_t font_glyphs[256][FONT_HEIGHT] = {"]
    for cp, g in enumerate(table):
        out.append("\t[0x%02x] = { %s }," %
                   (cp, ", ".join("0x%02x" % b for b in g)))
    out += ["};", "", "#endif", ""]
    return "\n".join(out)


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: psf2c.py FONT.psf[.gz] OUT.h\n")
        return 2
    try:
        font = load_psf(argv[1])
        if font.height != HEIGHT:
            raise PsfError("font is %d pixels high, need %d" %
                           (font.height, HEIGHT))
        text = to_c(latin1_table(font), argv[1])
    except (OSError, PsfError) as e:
        sys.stderr.write("psf2c.py: %s\n" % e)
        return 1
    # Write then rename so an interrupted build leaves no half header.
    tmp = argv[2] + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
