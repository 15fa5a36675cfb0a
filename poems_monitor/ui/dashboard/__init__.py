"""The patient dashboard: header, flags panel, features timeline, charts and follow-up."""
