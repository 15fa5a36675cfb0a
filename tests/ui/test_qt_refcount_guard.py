"""Guard against the PySide6 release that drops a reference to None on every Qt call that
returns nothing (6.12.0 on Python 3.11 aborts after ~16,000 such calls: TOOLCHAIN.md)."""

import sys

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPen


def test_qt_void_calls_keep_the_reference_count_of_none(qapp):
    image = QImage(64, 64, QImage.Format.Format_ARGB32)
    pen = QPen(QColor("#0072B2"), 2, Qt.PenStyle.SolidLine)
    before = sys.getrefcount(None)
    painter = QPainter(image)
    for _ in range(2000):
        painter.setPen(pen)
    painter.end()
    after = sys.getrefcount(None)
    assert before - after < 100, f"None lost {before - after} references: this PySide6 build is unsafe"
