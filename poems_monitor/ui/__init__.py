"""The desktop app: PySide6 widgets and pyqtgraph charts on top of the services."""

import os

# Qt hands large fills and semi-transparent lines to a pool of painting threads and waits for
# them. On the 2-core machines clinics use, with the app's own worker process beside it, the
# hand-over costs far more than the drawing: a chart's faint grid lines took 8 times as long
# (about a fifth of a patient switch). The same pixels are drawn on the GUI thread instead. Read
# by Qt once, at the first such fill: set before any window paints.
os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")
