"""Trend charts of the patient dashboard (pyqtgraph), each switchable to a table."""
