"""A statement as a small, plain PDF, written by hand: no new dependency, and text a lender's
software (or ``pdftotext``) reads back exactly.

PDF 1.4, A4 pages, the standard Helvetica fonts in WinAnsi encoding (so no font is embedded);
characters outside that encoding print as ``?``. Content streams are not compressed, so what is
printed can be checked in the file's bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from conversations.ports import PrintedStatement

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN = 56
LINE = 15
LINES_PER_PAGE = (PAGE_HEIGHT - 2 * MARGIN - 120) // LINE


def pdf_text(value: str) -> bytes:
    """A PDF literal string of ``value`` in WinAnsi, with (, ) and \\ escaped."""
    encoded = value.encode("cp1252", errors="replace")
    escaped = encoded.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return b"(" + escaped + b")"


@dataclass(frozen=True, slots=True)
class _Text:
    x: int
    y: int
    size: int
    value: str
    bold: bool = False


def _stream(items: Sequence[_Text], rules: Sequence[tuple[int, int, int, int]]) -> bytes:
    parts: list[bytes] = []
    for x1, y1, x2, y2 in rules:
        parts.append(f"0.6 G {x1} {y1} m {x2} {y2} l S".encode())
    for item in items:
        font = b"/F2" if item.bold else b"/F1"
        parts.append(
            b"BT "
            + font
            + f" {item.size} Tf {item.x} {item.y} Td ".encode()
            + pdf_text(item.value)
            + b" Tj ET"
        )
    return b"\n".join(parts) + b"\n"


def _pages(statement: PrintedStatement) -> list[bytes]:
    chunks = [
        statement.lines[i : i + LINES_PER_PAGE]
        for i in range(0, max(len(statement.lines), 1), LINES_PER_PAGE)
    ]
    streams = []
    for number, chunk in enumerate(chunks, start=1):
        top = PAGE_HEIGHT - MARGIN
        items = [_Text(MARGIN, top, 16, statement.title, bold=True)]
        y = top - 30
        for line in chunk:
            bold = line.startswith("# ")
            items.append(_Text(MARGIN, y, 10, line.removeprefix("# "), bold=bold))
            y -= LINE
        box = MARGIN + 70
        items += [
            _Text(MARGIN + 10, box - 22, 11, statement.code_label, bold=True),
            _Text(MARGIN + 10, box - 40, 10, statement.verify_url),
            _Text(MARGIN, MARGIN - 20, 8, f"{statement.footer}  ({number}/{len(chunks)})"),
        ]
        rules = [
            (MARGIN, box, PAGE_WIDTH - MARGIN, box),
            (MARGIN, box - 52, PAGE_WIDTH - MARGIN, box - 52),
        ]
        streams.append(_stream(items, rules))
    return streams


def statement_pdf(statement: PrintedStatement) -> bytes:
    """The statement as the bytes of a PDF file."""
    streams = _pages(statement)
    objects: list[bytes] = []
    page_ids = [5 + 2 * i for i in range(len(streams))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = b" ".join(f"{i} 0 R".encode() for i in page_ids)
    objects.append(b"<< /Type /Pages /Kids [" + kids + f"] /Count {len(page_ids)} >>".encode())
    for base in (b"Helvetica", b"Helvetica-Bold"):
        objects.append(
            b"<< /Type /Font /Subtype /Type1 /BaseFont /" + base + b" /Encoding /WinAnsiEncoding >>"
        )
    for index, content in enumerate(streams):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R "
            + f"/MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] ".encode()
            + b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> "
            + f"/Contents {page_ids[index] + 1} 0 R >>".encode()
        )
        objects.append(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"endstream")
    info_id = len(objects) + 1
    objects.append(b"<< /Title " + pdf_text(statement.title) + b" /Producer (Karakana) >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info_id} 0 R >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)
