"""The case worker's console: server-rendered pages at ``/console`` for help-line staff."""
