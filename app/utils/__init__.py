"""Helpers shared by the web layer: safe paths, names, i18n, the report picture."""
