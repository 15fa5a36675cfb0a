"""The desktop app: PySide6 widgets and pyqtgraph charts on top of the services."""
