"""Figures and reports made from results."""
