"""Readable HTML reports of an audit and of the demo."""
