"""Evaluation: metrics (CER, WER...), calibration and reports."""
