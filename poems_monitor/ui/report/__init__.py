"""The printable patient summary (PDF, print preview, print) and chart export."""
