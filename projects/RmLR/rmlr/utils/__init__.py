"""Utilities of the tools: drawing HOI predictions, ground truth and attention maps, label
layout, progress lines and command-line argument types."""

from .visualizer import HOIVisualizer, instances_from_record, select_hoi_rows, verb_color

__all__ = ["HOIVisualizer", "instances_from_record", "select_hoi_rows", "verb_color"]
