"""The stages: each composes data, models, training and tracking for one step of the paper."""
