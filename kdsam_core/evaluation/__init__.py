"""Evaluation of segmentation models: metrics, bootstrap intervals, model comparison, reports, figures."""
