"""Utilities: drawing HOI predictions and ground truth."""

from .visualizer import HOIVisualizer, instances_from_rows, select_hoi_rows

__all__ = ["HOIVisualizer", "instances_from_rows", "select_hoi_rows"]
