"""Offline tools for the model tiers: data split, training, calibration, evaluation, export."""
