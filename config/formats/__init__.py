"""The clinic's own date and time formats (settings.FORMAT_MODULE_PATH), one package per language."""
