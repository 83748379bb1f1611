"""aiar: compile AI model bundles into a reviewable artifact set, then apply it."""

__version__ = "0.1.0"
